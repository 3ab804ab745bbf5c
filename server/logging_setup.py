"""Process logging: human-readable lines on stderr, and the per-request JSON lines of
`server.request_log` on stdout, bare (one JSON object per line, ready for a log shipper)."""

from __future__ import annotations

import logging
import sys

from server.request_log import REQUEST_LOGGER


def configure_logging(level: str) -> None:
    """Set up both streams at ``level`` (``debug``, ``info``, ...); safe to call twice."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    requests = logging.getLogger(REQUEST_LOGGER)
    if not any(getattr(h, "frugal_json", False) for h in requests.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.frugal_json = True  # type: ignore[attr-defined]
        requests.addHandler(handler)
    requests.propagate = False
    requests.setLevel(level.upper())
