"""Optimisation: the parameter search (``optimizer``), optimisation runs in the database shared
by Celery workers (``runs``), and a bot's scheduled re-optimisation (``reoptimization``)."""
