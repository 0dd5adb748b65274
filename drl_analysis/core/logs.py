"""The package logger and its set-up for the command line.

Every module logs to a child of ``logging.getLogger("drl_analysis")``
(``logging.getLogger(__name__)``). A library never configures logging: an
application (the command line, a notebook) decides where messages go. The
command line calls :func:`setup_logging` with ``--log-level``.
"""

from __future__ import annotations

import logging
import sys

#: The package's logger name; modules log to ``logging.getLogger(__name__)`` below it.
LOGGER_NAME = "drl_analysis"

#: Levels ``--log-level`` accepts.
LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error")

logger = logging.getLogger(LOGGER_NAME)


def setup_logging(level: str = "warning") -> logging.Handler:
    """Send the package's messages at ``level`` and above to stderr, one line each.

    Idempotent: a second call replaces the handler of the first. Returns the
    handler installed.
    """
    name = str(level).lower()
    if name not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    for handler in list(logger.handlers):
        if getattr(handler, "_drl_analysis", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("drl-analysis: %(levelname)s: %(message)s"))
    handler._drl_analysis = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(getattr(logging, name.upper()))
    return handler
