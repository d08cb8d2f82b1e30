import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("django", "celery", "binance", "aiohttp", "requests", "redis", "channels")
MODULES = ("circuit_breaker", "gate", "portfolio", "sizing", "types", "vix")


def test_risk_domain_with_all_modules_imported_loads_no_framework_or_network_package():
    code = (
        "import sys\n"
        + "".join(f"import apps.risk.domain.{m}\n" for m in MODULES)
        + f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        + "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
