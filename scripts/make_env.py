"""Write a local .env with fresh random secrets (first `make run`). Never overwrites a value.

A file written by an earlier version that lacks the webhook passphrase gets one appended.
"""

from __future__ import annotations

import base64
import secrets
import sys
from pathlib import Path


def main(path: str) -> int:
    target = Path(path)
    if target.exists():
        text = target.read_text()
        if any(line.startswith("WEBHOOK_SECRET=") for line in text.splitlines()):
            print(f"{target} exists; leaving it as it is")
            return 0
        with target.open("a") as out:
            out.write(("" if text.endswith("\n") or not text else "\n") + _webhook_line())
        print(f"{target} exists; added a WEBHOOK_SECRET (the demo's webhook passphrase)")
        return 0
    fernet_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    target.write_text(
        "# Written by `make run` on first start. Keep it private; it is git-ignored.\n"
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"FIELD_ENCRYPTION_KEY={fernet_key}\n" + _webhook_line()
    )
    target.chmod(0o600)
    print(f"wrote {target} with a new DJANGO_SECRET_KEY, FIELD_ENCRYPTION_KEY and WEBHOOK_SECRET")
    return 0


def _webhook_line() -> str:
    return (
        "# The passphrase every bot accepts on the TradingView webhook (per-bot ones: the admin).\n"
        f"WEBHOOK_SECRET={secrets.token_urlsafe(24)}\n"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".env"))
