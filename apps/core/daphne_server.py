"""daphne with an access log that never shows a secret: ``python -m apps.core.daphne_server`` takes
daphne's own arguments (``-b 0.0.0.0 -p 8000 tradingplatform.asgi:application``) and writes
daphne's NCSA-style access log with every secret-looking query parameter (``passphrase=``,
``secret=``, ``token=``, ...) replaced by ``[redacted]`` (``apps.core.middleware.redact_secrets``).

Plain ``daphne`` logs the request line as received, so a TradingView alert URL carrying
``?passphrase=...`` would put the passphrase into the log. ``runplatform`` writes no access log.
"""

from __future__ import annotations

import sys
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.server import Server

from apps.core.middleware import redact_secrets


class RedactingServer(Server):
    """daphne's server, handing its action logger request paths with secrets redacted."""

    def log_action(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        path = details.get("path")
        if isinstance(path, str):
            details = {**details, "path": redact_secrets(path)}
        super().log_action(protocol, action, details)


class RedactingCommandLine(CommandLineInterface):
    server_class = RedactingServer


def main(argv: list[str] | None = None) -> None:
    RedactingCommandLine().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
