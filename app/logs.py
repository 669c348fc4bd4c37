"""The server's logs: the level of every logger, and the access log's one JSON object per line."""

import logging


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure_request_log() -> None:
    """Request lines are whole JSON objects, one per line, for log collectors to parse as they are."""
    access = logging.getLogger("app.access")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.propagate = False
