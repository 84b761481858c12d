"""``python -m <service> serve``: what it refuses before it starts anything."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from kit_demo import DemoSettings, create_demo_app, demo_settings

from servicekit.cli import serve
from servicekit.settings import ServerSettings


def test_workers_need_a_create_app_they_can_import(
    database_url: str, redis_url: str, jwks_url: str
) -> None:
    settings = demo_settings(
        database_url, redis_url, jwks_url, server=ServerSettings(workers=2, port=1)
    )

    def create_app(settings: DemoSettings) -> FastAPI:
        return create_demo_app(settings)

    with pytest.raises(TypeError, match="module-level"):
        serve(create_app, settings, name="demo")
