"""What a service tells its operators: structured logs and Prometheus metrics.

- `configure_logging`: structlog for the process, JSON lines or console, the
  standard library's loggers (uvicorn, SQLAlchemy) routed through it;
- `Metrics`: one app's registry with the instruments every service has, and
  `metrics_router`, its ``GET /metrics``; a `ScrapedCollector` reads its values when
  scraped.
"""

from servicekit.observability._logging import configure_logging
from servicekit.observability._metrics import Metrics, ScrapedCollector, metrics_router

__all__ = ["Metrics", "ScrapedCollector", "configure_logging", "metrics_router"]
