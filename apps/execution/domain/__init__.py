"""The execution kernel: how an entry decision becomes orders (pure; no Django, no I/O).

- `slippage`: book-aware entry slices (LIMIT IOC) within a maximum slippage, and later rounds;
- `partial_exit`: scale-out take-profit orders and the break-even stop move;
- `trailing`: the trailing stop state machine, its place-then-cancel replacement, native trailing;
- `plan`: `ExecutionPlan`, the whole order set for one entry decision.
"""
