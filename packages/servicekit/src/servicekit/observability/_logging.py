"""Structured logging: one JSON object (or one readable line) per event, to stdout.

The request id bound by `ServiceMiddleware` is merged into every line,
including lines from the standard library's loggers (uvicorn, SQLAlchemy), which
are routed through the same processors.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import orjson
import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

__all__ = ["configure_logging"]

LogFormat = Literal["json", "console"]
_OURS = "_servicekit_handler"


def configure_logging(*, level: str, format: LogFormat, service: str) -> FilteringBoundLogger:
    """Configure structlog and the standard library's logging for this process.

    Returns the logger of the access line, the one line written per request. In
    JSON it skips the standard library: orjson renders the line and it is written
    to stdout as bytes, which costs a fraction of a stdlib record. Every other line
    (errors, uvicorn's, SQLAlchemy's) goes through the standard library, where
    tests and handlers can see it. Safe to call again (tests build many apps): the
    last call wins.
    """
    numeric_level = logging.getLevelNamesMapping()[level.upper()]

    def add_service(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event.setdefault("service", service)
        return event

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
    ]
    renderer: Processor
    if format == "json":
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        cache_logger_on_first_use=False,
    )

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    # Replace only our own handler: others (pytest's log capture) stay.
    for existing in root.handlers[:]:
        if getattr(existing, _OURS, False):
            root.removeHandler(existing)
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    # Our middleware writes the one access line per request.
    logging.getLogger("uvicorn.access").disabled = True
    # A line per outgoing request (JWKS fetches) is noise at INFO.
    logging.getLogger("httpx").setLevel(max(numeric_level, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    stdout = getattr(sys.stdout, "buffer", None)
    if format != "json" or stdout is None:
        access: FilteringBoundLogger = structlog.get_logger("servicekit.access")
        return access
    # `bind()` turns structlog's lazy proxy into the logger itself: one less hop per line.
    fast: FilteringBoundLogger = structlog.wrap_logger(
        structlog.BytesLogger(stdout),
        processors=[*shared, structlog.processors.JSONRenderer(serializer=orjson.dumps)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
    ).bind()
    return fast


def _dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()
