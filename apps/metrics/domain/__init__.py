"""Pure rules of the metrics: who may read them, bounded label values, the drawdown figure."""
