"""The AI kernel: features, the trading environment, agents, the LSTM predictor, the ensemble and
HybridAI. Pure: no Django, no I/O beyond (de)serialising models to bytes; the clock and the data
come in as arguments."""
