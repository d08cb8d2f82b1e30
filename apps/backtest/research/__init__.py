"""Research: the vectorised backtest kernels (``domain/``: pure, no Django), the fast path that
``services.backtest_series``, the optimiser and the AI's training environment call."""
