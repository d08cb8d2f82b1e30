"""Write a local .env with fresh random secrets (first `make run`). Never overwrites a value.

A file written by an earlier version gets the lines it lacks appended (the webhook passphrase,
the metrics token, Grafana's admin password).
"""

from __future__ import annotations

import base64
import secrets
import sys
from collections.abc import Callable
from pathlib import Path


def _webhook_line() -> str:
    return (
        "# The passphrase every bot accepts on the TradingView webhook (per-bot ones: the admin).\n"
        f"WEBHOOK_SECRET={secrets.token_urlsafe(24)}\n"
    )


def _metrics_line() -> str:
    return (
        "# Bearer token for /metrics (Prometheus: docs/operations.md); unset, /metrics is a 404.\n"
        f"METRICS_TOKEN={secrets.token_urlsafe(32)}\n"
    )


def _grafana_line() -> str:
    return (
        "# Grafana's admin password (docker compose reads it; Grafana's first start sets it).\n"
        f"GRAFANA_ADMIN_PASSWORD={secrets.token_urlsafe(18)}\n"
    )


# Added to an existing file that lacks them: (variable, writer).
OPTIONAL: tuple[tuple[str, Callable[[], str]], ...] = (
    ("WEBHOOK_SECRET", _webhook_line),
    ("METRICS_TOKEN", _metrics_line),
    ("GRAFANA_ADMIN_PASSWORD", _grafana_line),
)


def main(path: str) -> int:
    target = Path(path)
    if target.exists():
        text = target.read_text()
        names = {line.split("=", 1)[0].strip() for line in text.splitlines() if "=" in line}
        missing = [(name, line) for name, line in OPTIONAL if name not in names]
        if not missing:
            print(f"{target} exists; leaving it as it is")
            return 0
        with target.open("a") as out:
            out.write("" if text.endswith("\n") or not text else "\n")
            for _, line in missing:
                out.write(line())
        added = " and ".join(name for name, _ in missing)
        print(f"{target} exists; added {added}")
        return 0
    fernet_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    target.write_text(
        "# Written by `make run` on first start. Keep it private; it is git-ignored.\n"
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"FIELD_ENCRYPTION_KEY={fernet_key}\n" + "".join(line() for _, line in OPTIONAL)
    )
    target.chmod(0o600)
    print(
        f"wrote {target} with a new DJANGO_SECRET_KEY, FIELD_ENCRYPTION_KEY, WEBHOOK_SECRET, "
        "METRICS_TOKEN and GRAFANA_ADMIN_PASSWORD"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".env"))
