"""Write a local .env with fresh random secrets (first `make run`). Never overwrites a file."""

from __future__ import annotations

import base64
import secrets
import sys
from pathlib import Path


def main(path: str) -> int:
    target = Path(path)
    if target.exists():
        print(f"{target} exists; leaving it as it is")
        return 0
    fernet_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    target.write_text(
        "# Written by `make run` on first start. Keep it private; it is git-ignored.\n"
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"FIELD_ENCRYPTION_KEY={fernet_key}\n"
    )
    target.chmod(0o600)
    print(f"wrote {target} with a new DJANGO_SECRET_KEY and FIELD_ENCRYPTION_KEY")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".env"))
