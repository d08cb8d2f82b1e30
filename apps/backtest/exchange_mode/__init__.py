"""Exchange mode: a bot's cycles through the trading runner over candles or a signal file, on the
in-memory store. ``domain/`` is the pure loop; ``services.py`` reads its inputs from the bot's
settings and the shipped files. Nothing here is imported by this package's ``__init__``, so
importing ``domain`` never loads Django."""
