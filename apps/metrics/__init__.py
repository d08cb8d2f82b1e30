"""Prometheus metrics: what the platform does (counters and histograms, recorded where it
happens, through model, Celery and request seams) and what it holds (gauges read from the
database at scrape time). See docs/operations.md."""
