"""The pure kernel of the A/B experiments (statistics of daily returns)."""
