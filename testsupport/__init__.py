"""What stands in for the outside world in tests, demos and benchmarks: the fake Binance
USDT-M server (``testsupport.fakebinance``, served by ``manage.py fakebinance``).

Not a production app: only the dev and test settings install it, and no ``apps`` module may
import it (an import-linter contract).
"""
