"""Reports of a backtest for people: the self-contained HTML report (``html``) and the command's
summary table (``summary_table``)."""
