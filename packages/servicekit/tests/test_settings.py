"""Settings: read from the environment by section; a bad value names its variable."""

from __future__ import annotations

import pytest
from kit_demo import DemoSettings
from pydantic import ValidationError

from servicekit.settings import (
    DatabaseSettings,
    HttpSettings,
    RedisSettings,
    SettingsError,
    load_settings,
)

_REQUIRED = {
    "DEMO_DATABASE_URL": "postgresql://app:pw@db.example.com:5432/app",
    "DEMO_REDIS_URL": "redis://cache.example.com:6379/0",
}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in _REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


class TestLoadSettings:
    def test_reads_each_section_under_its_prefix(self, environment: pytest.MonkeyPatch) -> None:
        environment.setenv("DEMO_DATABASE_POOL_SIZE", "3")
        environment.setenv("DEMO_MAX_BODY_BYTES", "2048")
        environment.setenv("DEMO_CORS_ORIGINS", "https://a.example.com, https://b.example.com")
        environment.setenv("DEMO_LOG_FORMAT", "console")
        environment.setenv("DEMO_TOKEN_AUDIENCE", "shop")

        settings = load_settings(DemoSettings, service="demo")

        assert settings.database.pool_size == 3
        assert settings.http.max_body_bytes == 2048
        assert settings.http.cors_origins == ("https://a.example.com", "https://b.example.com")
        assert settings.log.format == "console"
        assert settings.token.audience == "shop"

    def test_a_service_default_holds_beside_a_variable_of_the_same_section(
        self, environment: pytest.MonkeyPatch
    ) -> None:
        environment.setenv("DEMO_HOST", "0.0.0.0")  # noqa: S104 -- what a container sets

        settings = load_settings(DemoSettings, service="demo")

        assert (settings.server.host, settings.server.port) == ("0.0.0.0", 8009)  # noqa: S104

    def test_sane_defaults(self, environment: pytest.MonkeyPatch) -> None:
        settings = load_settings(DemoSettings, service="demo")

        assert settings.http.max_body_bytes == 1_048_576
        assert settings.http.trusted_proxies == ()
        assert settings.http.cors_origins == ()
        assert settings.log.format == "json"
        assert settings.token.leeway == 30

    def test_a_postgresql_url_gets_the_asyncpg_driver(
        self, environment: pytest.MonkeyPatch
    ) -> None:
        settings = load_settings(DemoSettings, service="demo")

        assert settings.database.url == "postgresql+asyncpg://app:pw@db.example.com:5432/app"

    def test_bad_values_name_their_variables(self, environment: pytest.MonkeyPatch) -> None:
        environment.setenv("DEMO_DATABASE_POOL_SIZE", "many")
        environment.setenv("DEMO_LOG_FORMAT", "xml")
        environment.setenv("DEMO_TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip")

        with pytest.raises(SettingsError) as caught:
            load_settings(DemoSettings, service="demo")

        message = str(caught.value)
        assert message.startswith("Invalid configuration for demo:")
        for variable in ("DEMO_DATABASE_POOL_SIZE", "DEMO_LOG_FORMAT", "DEMO_TRUSTED_PROXIES"):
            assert variable in message

    def test_a_missing_required_variable_is_named(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DEMO_REDIS_URL", "redis://localhost/0")
        monkeypatch.delenv("DEMO_DATABASE_URL", raising=False)

        with pytest.raises(SettingsError, match="DEMO_DATABASE_URL: Field required"):
            load_settings(DemoSettings, service="demo")

    def test_the_message_never_echoes_a_value(self, environment: pytest.MonkeyPatch) -> None:
        environment.setenv("DEMO_DATABASE_URL", "mysql://root:topsecret@db/app")

        with pytest.raises(SettingsError) as caught:
            load_settings(DemoSettings, service="demo")

        assert "DEMO_DATABASE_URL" in str(caught.value)
        assert "topsecret" not in str(caught.value)

    def test_a_leeway_over_sixty_seconds_is_refused(self, environment: pytest.MonkeyPatch) -> None:
        environment.setenv("DEMO_TOKEN_LEEWAY", "61")

        with pytest.raises(SettingsError, match="DEMO_TOKEN_LEEWAY"):
            load_settings(DemoSettings, service="demo")

    def test_unknown_variables_with_the_prefix_are_reported(
        self, environment: pytest.MonkeyPatch
    ) -> None:
        environment.setenv("DEMO_DATABSE_URL", "typo")

        assert DemoSettings.unknown_variables({"DEMO_DATABSE_URL": "x", "DEMO_REDIS_URL": "y"}) == [
            "DEMO_DATABSE_URL"
        ]


class TestSections:
    @pytest.mark.parametrize(
        "url", ["redis://localhost", "rediss://h:1/2", "unix:///tmp/redis.sock"]
    )
    def test_redis_urls(self, url: str) -> None:
        assert RedisSettings(url=url).url == url

    @pytest.mark.parametrize("url", ["http://localhost:6379", "localhost:6379"])
    def test_not_redis_urls(self, url: str) -> None:
        with pytest.raises(ValidationError):
            RedisSettings(url=url)

    def test_a_database_url_must_name_a_database(self) -> None:
        with pytest.raises(ValidationError, match="must name a database"):
            DatabaseSettings(url="postgresql://localhost")

    @pytest.mark.parametrize(
        "origin", ["https://app.example.com/path", "app.example.com", "ftp://x"]
    )
    def test_cors_origins_must_be_origins(self, origin: str) -> None:
        with pytest.raises(ValidationError):
            HttpSettings(cors_origins=(origin,))

    def test_the_database_url_is_not_in_the_repr(self) -> None:
        settings = DatabaseSettings(url="postgresql://app:hunter2@db/app")

        assert "hunter2" not in repr(settings)
