"""Settings read from the environment, in typed sections.

A service declares one `ServiceSettings` subclass with its prefix; each field
is a `SettingsSection` with a prefix of its own. A variable's name is the two
prefixes and the field's name, upper-cased::

    USERS_ + DATABASE_ + pool_size  ->  USERS_DATABASE_POOL_SIZE
    ITEMS_ + ""        + max_body_bytes  ->  ITEMS_MAX_BODY_BYTES

`load_settings` reads them once at start-up; a bad value raises `SettingsError`
whose message names every offending variable. Tests build settings directly
from keyword arguments, so nothing here reads the environment at import time.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Final, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

__all__ = [
    "CacheSettings",
    "DatabaseSettings",
    "EventSettings",
    "HealthSettings",
    "HttpSettings",
    "IdempotencySettings",
    "LogSettings",
    "MetricsSettings",
    "Rate",
    "RateText",
    "RedisSettings",
    "ServerSettings",
    "ServiceSettings",
    "SettingsError",
    "SettingsSection",
    "TelemetrySettings",
    "load_settings",
]

SettingsT = TypeVar("SettingsT", bound="ServiceSettings")


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


CommaSeparated = Annotated[tuple[str, ...], BeforeValidator(_comma_separated)]

_TIME_UNITS: Final = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE: Final = re.compile(r"\s*(\d+)\s*/\s*(\d+)?\s*(second|minute|hour|day)s?\s*")


@dataclass(frozen=True, slots=True)
class Rate:
    """``quota`` requests per ``window`` seconds; in the environment ``600/minute``,
    ``10/second``, ``5/15minutes``, ``1000/2hours``."""

    quota: int
    window: int

    def __post_init__(self) -> None:
        if self.quota < 1 or self.window < 1:
            raise ValueError("a rate needs a quota and a window of at least 1")

    @classmethod
    def parse(cls, text: str) -> Rate:
        """The rate ``text`` writes, e.g. ``600/minute``."""
        match = _RATE.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not a rate like 600/minute or 5/15minutes")
        quota, count, unit = match.groups()
        return cls(quota=int(quota), window=int(count or 1) * _TIME_UNITS[unit])


def _rate(value: Any) -> Any:
    return Rate.parse(value) if isinstance(value, str) else value


RateText = Annotated[Rate, BeforeValidator(_rate)]
"""A list given as ``a,b,c`` in the environment."""


def _postgres_url(value: str) -> str:
    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise ValueError("not a database URL") from exc
    if url.get_backend_name() != "postgresql":
        raise ValueError("must be a PostgreSQL URL, e.g. postgresql+asyncpg://user:pass@host/db")
    if not url.database:
        raise ValueError("must name a database")
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def _redis_url(value: str) -> str:
    if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


def _networks(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IP address or CIDR network") from exc
    return values


def _origins(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        parts = urlsplit(value)
        if value != "*" and (
            parts.scheme not in ("http", "https") or not parts.netloc or parts.path
        ):
            raise ValueError(f"{value!r} is not an origin like https://app.example.com")
    return values


def _log_level(value: str) -> str:
    if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return value.upper()


class SettingsSection(BaseModel):
    """A group of related settings sharing a variable-name prefix."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
    env_prefix: ClassVar[str] = ""


class DatabaseSettings(SettingsSection):
    """The PostgreSQL connection pool of the service."""

    env_prefix = "DATABASE_"

    url: Annotated[str, AfterValidator(_postgres_url)] = Field(repr=False)
    """``postgresql+asyncpg://user:password@host:port/database`` (``postgresql://`` works too)."""
    pool_size: int = Field(default=10, ge=1)
    """Connections kept open per process."""
    max_overflow: int = Field(default=10, ge=0)
    """Extra connections opened under load beyond ``pool_size``, closed when idle."""
    pool_timeout: float = Field(default=5.0, gt=0)
    """Seconds a request waits for a free connection before it gets a 503."""
    pool_recycle: int = Field(default=1800, ge=1)
    """Seconds after which a connection is replaced, so none lives forever."""
    # Off, a connection the server closed is still never handed out (asyncpg notices,
    # servicekit.db refuses it at checkout), and one that breaks in use is discarded.
    pool_pre_ping: bool = False
    """Ping each connection before handing it out: a round trip per request."""
    pgbouncer: bool = False
    """Connect through PgBouncer in transaction mode: no prepared-statement caches."""
    connect_timeout: float = Field(default=5.0, gt=0)
    """Seconds to wait for a new connection to open."""
    command_timeout: float = Field(default=30.0, gt=0)
    """Seconds a single statement may run before it is cancelled."""


class RedisSettings(SettingsSection):
    """The Redis (or Valkey) client of the service."""

    env_prefix = "REDIS_"

    url: Annotated[str, AfterValidator(_redis_url)] = Field(repr=False)
    """``redis://[:password@]host:port/db``."""
    connect_timeout: float = Field(default=2.0, gt=0)
    """Seconds to wait for a connection to open."""
    socket_timeout: float = Field(default=2.0, gt=0)
    """Seconds to wait for a reply to a command."""
    max_connections: int = Field(default=100, ge=1)
    """Connections the client's pool may open per process."""


class HttpSettings(SettingsSection):
    """What the HTTP layer accepts: hosts, origins, proxies, body sizes."""

    cors_origins: Annotated[CommaSeparated, AfterValidator(_origins)] = ()
    """Origins allowed to call the API from a browser, comma-separated."""
    trusted_hosts: CommaSeparated = ("*",)
    """Host names the service answers to (``*.example.com`` allowed); ``*`` for any."""
    trusted_proxies: Annotated[CommaSeparated, AfterValidator(_networks)] = ()
    """Addresses or CIDRs of proxies whose ``X-Forwarded-For`` is believed."""
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    """Largest request body accepted; bigger ones get 413."""
    rate_limit: RateText = Rate(quota=600, window=60)
    """Requests per client (a valid token's user, else the address) per window, on every
    API route, counted across every instance in Redis."""
    rate_limit_enabled: bool = True
    """Off, nothing is limited and no RateLimit header is sent (to measure the cost)."""


class LogSettings(SettingsSection):
    """How the service logs."""

    env_prefix = "LOG_"

    format: Literal["json", "console"] = "json"
    """``json`` (one object per line, for machines) or ``console`` (for people)."""
    level: Annotated[str, AfterValidator(_log_level)] = "INFO"
    """Lowest level written: DEBUG, INFO, WARNING, ERROR or CRITICAL."""


class MetricsSettings(SettingsSection):
    """The Prometheus metrics."""

    env_prefix = "METRICS_"

    enabled: bool = True
    """Count every request and serve ``/metrics``; off, neither (to measure what they cost)."""


class CacheSettings(SettingsSection):
    """The read-through cache of hot responses in Redis."""

    env_prefix = "CACHE_"

    enabled: bool = True
    """Off, every read goes to the database (to measure, or to debug)."""
    ttl: float = Field(default=300, gt=0)
    """Seconds an entry lives (±10%), if no write invalidates it first."""
    absent_ttl: float = Field(default=5, gt=0)
    """Seconds a 404 is remembered."""


class IdempotencySettings(SettingsSection):
    """``Idempotency-Key`` on create routes."""

    env_prefix = "IDEMPOTENCY_"

    ttl: int = Field(default=86_400, ge=60)
    """Seconds a key and its response are kept: a retry after that runs again."""


class EventSettings(SettingsSection):
    """The outbox relay and the event consumers of the service's worker."""

    env_prefix = "EVENTS_"

    poll_interval: float = Field(default=1.0, gt=0, le=60)
    """Seconds between looks at the outbox when no commit has announced an event."""
    batch_size: int = Field(default=500, ge=1, le=10_000)
    """Events published, or stream entries read, at a time."""
    retention: int = Field(default=86_400, ge=60)
    """Seconds published outbox rows, acknowledged stream entries and the record of
    processed events are kept."""
    max_deliveries: int = Field(default=5, ge=1, le=100)
    """Deliveries of an event whose handler keeps failing before it goes to the dead letters."""
    retry_after: float = Field(default=30.0, gt=0)
    """Seconds an event a handler failed on, or a consumer abandoned (it died), waits
    before it is delivered again."""


class TelemetrySettings(SettingsSection):
    """FastAPI's native OpenTelemetry instrumentation."""

    env_prefix = "TELEMETRY_"

    enabled: bool = False
    """Spans, metrics and logs of every request to the global OpenTelemetry providers
    (configured by ``opentelemetry-instrument`` or ``FASTAPI_OTEL_AUTO_CONFIGURE=true``).
    Off, FastAPI does not look for a provider on every request, which costs about a
    seventh of a small request's time when none is configured."""


class HealthSettings(SettingsSection):
    """The readiness probe."""

    env_prefix = "HEALTH_"

    check_timeout: float = Field(default=2.0, gt=0)
    """Seconds each readiness check (database, Redis) may take before it fails."""


class ServerSettings(SettingsSection):
    """Where ``python -m <service> serve`` listens."""

    host: str = "127.0.0.1"
    """Interface to bind; ``0.0.0.0`` in a container."""
    port: int = Field(default=8000, ge=1, le=65535)
    """TCP port to bind."""
    workers: int = Field(default=1, ge=1, le=64)
    """Server processes, each with its own connection pools: one per core is the most
    that helps, and PostgreSQL must allow workers * (pool size + overflow) connections
    per instance."""


class SettingsError(ValueError):
    """Settings that cannot be used; the message names each bad variable."""

    def __init__(self, service: str, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {variable}: {reason}" for variable, reason in problems)
        super().__init__(f"Invalid configuration for {service}:\n{lines}")


class ServiceSettings(BaseSettings):
    """Base of a service's settings: the sections every service has.

    Subclasses set ``model_config = SettingsConfigDict(env_prefix="USERS_")``
    and add their own sections.
    """

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    database: DatabaseSettings
    redis: RedisSettings
    http: HttpSettings = HttpSettings()
    log: LogSettings = LogSettings()
    health: HealthSettings = HealthSettings()
    metrics: MetricsSettings = MetricsSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    cache: CacheSettings = CacheSettings()
    idempotency: IdempotencySettings = IdempotencySettings()
    events: EventSettings = EventSettings()
    server: ServerSettings = ServerSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _SectionedEnvironment(settings_cls))

    @classmethod
    def variable_names(cls) -> dict[tuple[str, str], str]:
        """Every variable this class reads, keyed by (section, field)."""
        prefix = cls.model_config.get("env_prefix", "")
        names: dict[tuple[str, str], str] = {}
        for section_name, section in _sections(cls).items():
            for field_name in section.model_fields:
                names[section_name, field_name] = (
                    f"{prefix}{section.env_prefix}{field_name}".upper()
                )
        return names

    @classmethod
    def unknown_variables(cls, environ: Mapping[str, str]) -> list[str]:
        """Variables with this service's prefix that no setting reads (typos)."""
        prefix = cls.model_config.get("env_prefix", "")
        known = set(cls.variable_names().values())
        return sorted(name for name in environ if name.startswith(prefix) and name not in known)


def load_settings(cls: type[SettingsT], *, service: str) -> SettingsT:
    """Read ``cls`` from the environment, or raise `SettingsError` naming what is wrong."""
    try:
        return cls()
    except ValidationError as exc:
        names = cls.variable_names()
        sections = _sections(cls)
        prefix = cls.model_config.get("env_prefix", "")
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            loc = tuple(str(part) for part in error["loc"])
            if len(loc) >= 2:
                variable = names.get((loc[0], loc[1]), ".".join(loc))
            elif loc and loc[0] in sections:  # a rule across several fields of a section
                variable = f"{prefix}{sections[loc[0]].env_prefix}*".upper()
            else:
                variable = ".".join(loc) or prefix + "*"
            problems.append((variable, error["msg"]))
        raise SettingsError(service, problems) from None


def _sections(cls: type[BaseSettings]) -> dict[str, type[SettingsSection]]:
    sections = {}
    for name, field in cls.model_fields.items():
        annotation = field.annotation
        if not (isinstance(annotation, type) and issubclass(annotation, SettingsSection)):
            raise TypeError(f"{cls.__name__}.{name} must be a SettingsSection")
        sections[name] = annotation
    return sections


class _SectionedEnvironment(PydanticBaseSettingsSource):
    """Reads ``<PREFIX><SECTION PREFIX><FIELD>`` variables into nested sections."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.prefix = settings_cls.model_config.get("env_prefix", "")

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        # Unused: `__call__` reads whole sections at once.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        environ = os.environ
        values: dict[str, Any] = {}
        for section_name, section in _sections(self.settings_cls).items():
            section_values = {}
            for field_name in section.model_fields:
                variable = f"{self.prefix}{section.env_prefix}{field_name}".upper()
                if variable in environ:
                    section_values[field_name] = environ[variable]
            field = self.settings_cls.model_fields[section_name]
            if section_values and isinstance(field.default, SettingsSection):
                # The service's own defaults for the section (users' port 8001)
                # hold for every field the environment does not set.
                section_values = field.default.model_dump() | section_values
            if section_values or field.is_required():
                values[section_name] = section_values
        return values
