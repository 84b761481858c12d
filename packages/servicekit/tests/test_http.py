"""What every service gets from servicekit, seen through HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from kit_demo import create_demo_app, demo_settings
from pydantic import ValidationError
from redis.asyncio import Redis
from starlette.requests import Request

from servicekit.devstack import free_port
from servicekit.http import url_of
from servicekit.settings import DatabaseSettings, HttpSettings, MetricsSettings, RedisSettings
from servicekit.testing import TokenFactory, app_client


class TestRequestId:
    async def test_a_new_id_when_the_client_sends_none(
        self, demo_client: httpx.AsyncClient
    ) -> None:
        first = await demo_client.get("/health/live")
        second = await demo_client.get("/health/live")

        assert len(first.headers["x-request-id"]) == 32
        assert first.headers["x-request-id"] != second.headers["x-request-id"]

    async def test_the_clients_sane_id_is_kept(self, demo_client: httpx.AsyncClient) -> None:
        response = await demo_client.get("/health/live", headers={"X-Request-ID": "req-42.a:b"})

        assert response.headers["x-request-id"] == "req-42.a:b"

    @pytest.mark.parametrize("bad", ["x" * 129, "has space", "semi;colon", "<script>"])
    async def test_an_insane_id_is_replaced(self, demo_client: httpx.AsyncClient, bad: str) -> None:
        response = await demo_client.get("/health/live", headers={"X-Request-ID": bad})

        assert response.headers["x-request-id"] != bad
        assert len(response.headers["x-request-id"]) == 32

    async def test_problems_carry_the_request_id(self, demo_client: httpx.AsyncClient) -> None:
        response = await demo_client.get("/missing", headers={"X-Request-ID": "trace-me"})

        assert response.json()["request_id"] == "trace-me"


class TestServerTiming:
    async def test_every_response_says_how_long_the_app_took(
        self, demo_client: httpx.AsyncClient
    ) -> None:
        for response in (await demo_client.get("/health/live"), await demo_client.get("/missing")):
            name, duration = response.headers["server-timing"].split(";dur=")
            assert name == "app"
            assert float(duration) >= 0


class TestProblems:
    async def test_an_unknown_path_is_404(self, demo_client: httpx.AsyncClient) -> None:
        response = await demo_client.get("/no/such/path")

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "type": "/problems/not-found",
            "title": "Not Found",
            "status": 404,
            "detail": "Nothing is at /no/such/path.",
            "instance": "/no/such/path",
            "request_id": response.headers["x-request-id"],
        }

    async def test_a_wrong_method_is_405_with_allow(self, demo_client: httpx.AsyncClient) -> None:
        response = await demo_client.delete("/notes")

        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD, POST"  # every route of the path
        assert response.json()["title"] == "Method Not Allowed"

    async def test_head_is_a_get_without_the_body(self, demo_client: httpx.AsyncClient) -> None:
        get = await demo_client.get("/health/ready")
        head = await demo_client.head("/health/ready")

        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"]
        metrics = (await demo_client.get("/metrics")).text
        assert 'http_requests_total{method="HEAD",route="/health/ready",status="200"}' in metrics

    async def test_an_unexpected_error_is_a_500_that_reveals_nothing(
        self, demo_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        response = await demo_client.get("/boom")

        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Internal Server Error"
        for secret in ("hunter2", "db.internal", "RuntimeError", "Traceback"):
            assert secret not in response.text
        assert response.headers["x-request-id"]
        assert response.headers["x-content-type-options"] == "nosniff"
        logged = [r for r in caplog.records if "unhandled_exception" in str(r.msg)]
        assert "hunter2" in str(logged[0].msg), "the traceback is logged, for the operator"

    async def test_validation_errors_list_each_problem(
        self, demo_client: httpx.AsyncClient
    ) -> None:
        response = await demo_client.post("/notes", json={"body": 3, "extra": True})

        assert response.status_code == 422
        problem = response.json()
        assert problem["type"] == "/problems/validation-error"
        locs = sorted(tuple(error["loc"]) for error in problem["errors"])
        assert locs == [("body", "body"), ("body", "extra")]

    async def test_input_postgresql_refuses_is_422_not_500(
        self, demo_client: httpx.AsyncClient, notes: asyncpg.Connection
    ) -> None:
        response = await demo_client.post("/notes", json={"body": "nul \x00 inside"})

        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"


class TestBodyLimit:
    @pytest.fixture
    async def small_client(
        self, database_url: str, redis_url: str, jwks_url: str
    ) -> AsyncIterator[httpx.AsyncClient]:
        settings = demo_settings(
            database_url, redis_url, jwks_url, http=HttpSettings(max_body_bytes=64)
        )
        async with app_client(create_demo_app(settings)) as client:
            yield client

    async def test_a_declared_length_over_the_limit_is_413(
        self, small_client: httpx.AsyncClient
    ) -> None:
        response = await small_client.post("/notes", json={"body": "x" * 100})

        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert "64 bytes" in response.json()["detail"]

    async def test_a_streamed_body_over_the_limit_is_413(
        self, small_client: httpx.AsyncClient
    ) -> None:
        response = await _post_streamed(small_client)

        assert response.status_code == 413

    async def test_a_streamed_body_over_the_limit_is_the_content_too_large_problem(
        self, small_client: httpx.AsyncClient
    ) -> None:
        response = await _post_streamed(small_client)

        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "/problems/content-too-large"
        assert "64 bytes" in response.json()["detail"]

    async def test_the_default_limit_is_one_mebibyte(self, demo_client: httpx.AsyncClient) -> None:
        response = await demo_client.post("/notes", json={"body": "x" * 1_048_576})

        assert response.status_code == 413


async def _post_streamed(demo_client: httpx.AsyncClient) -> httpx.Response:
    """A JSON body of 220 bytes, sent in chunks without a Content-Length."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b'{"body": "0123456789"'

    return await demo_client.post(
        "/notes", content=chunks(), headers={"content-type": "application/json"}
    )


class TestUrlOf:
    def test_under_the_base_url_root_path_included_values_quoted(self) -> None:
        request = Request(
            {
                "type": "http",
                "scheme": "https",
                "server": ("api.example.com", 443),
                "root_path": "/shop",
                "path": "/shop/items/",
                "headers": [(b"host", b"api.example.com")],
            }
        )

        assert url_of(request, "/items/{item_id}", item_id="a/b c") == (
            "https://api.example.com/shop/items/a%2Fb%20c"
        )


class TestSecurityHeaders:
    async def test_every_response_has_them(self, demo_client: httpx.AsyncClient) -> None:
        response = await demo_client.get("/health/live")

        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"

    async def test_authenticated_responses_are_no_store(
        self, demo_client: httpx.AsyncClient, token_factory: TokenFactory
    ) -> None:
        response = await demo_client.get(
            "/whoami", headers={"Authorization": f"Bearer {token_factory.issue()}"}
        )

        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"


class TestTrustedHosts:
    async def test_an_unknown_host_is_400(
        self, database_url: str, redis_url: str, jwks_url: str
    ) -> None:
        settings = demo_settings(
            database_url,
            redis_url,
            jwks_url,
            http=HttpSettings(trusted_hosts=("api.example.com", "*.example.org")),
        )
        async with app_client(create_demo_app(settings)) as client:
            good = await client.get("/health/live", headers={"Host": "api.example.com:8443"})
            wildcard = await client.get("/health/live", headers={"Host": "eu.example.org"})
            bad = await client.get("/health/live", headers={"Host": "evil.example.net"})

        assert good.status_code == wildcard.status_code == 200
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.headers["x-content-type-options"] == "nosniff"


class TestTrustedProxies:
    async def test_behind_a_trusted_proxy_the_app_sees_the_forwarded_client_and_scheme(
        self, database_url: str, redis_url: str, jwks_url: str
    ) -> None:
        # httpx's in-process transport connects from 127.0.0.1.
        settings = demo_settings(
            database_url,
            redis_url,
            jwks_url,
            http=HttpSettings(trusted_proxies=("127.0.0.1", "10.0.0.0/8")),
        )
        headers = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.1.2.3"}
        async with app_client(create_demo_app(settings)) as client:
            forwarded = await client.get(
                "/client", headers={**headers, "X-Forwarded-Proto": "https"}
            )
            direct = await client.get("/client")

        assert forwarded.json() == {"address": "203.0.113.9", "scheme": "https"}
        assert direct.json() == {"address": "127.0.0.1", "scheme": "http"}

    async def test_without_trusted_proxies_forwarding_headers_are_ignored(
        self, demo_client: httpx.AsyncClient
    ) -> None:
        response = await demo_client.get(
            "/client",
            headers={
                "X-Forwarded-For": "203.0.113.9",
                "X-Forwarded-Proto": "https",
                "X-Real-IP": "203.0.113.10",
                "Forwarded": "for=203.0.113.11;proto=https",
            },
        )

        assert response.json() == {"address": "127.0.0.1", "scheme": "http"}


class TestCors:
    async def test_a_configured_origin_may_call(
        self, database_url: str, redis_url: str, jwks_url: str
    ) -> None:
        settings = demo_settings(
            database_url,
            redis_url,
            jwks_url,
            http=HttpSettings(cors_origins=("https://app.example.com",)),
        )
        async with app_client(create_demo_app(settings)) as client:
            preflight = await client.options(
                "/notes",
                headers={
                    "Origin": "https://app.example.com",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type,authorization",
                },
            )
            other = await client.get("/health/live", headers={"Origin": "https://evil.example.com"})

        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "access-control-allow-origin" not in other.headers

    async def test_no_cors_without_configured_origins(self, demo_client: httpx.AsyncClient) -> None:
        response = await demo_client.get(
            "/health/live", headers={"Origin": "https://app.example.com"}
        )

        assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("path", ["/notes", "/tx/notes"], ids=["session", "transaction"])
class TestUnitOfWork:
    """The request's unit of work, an ORM session (DbSession) or a Transaction (DbTransaction)."""

    async def test_committed_before_the_response(
        self, path: str, demo_client: httpx.AsyncClient, notes: asyncpg.Connection
    ) -> None:
        response = await demo_client.post(path, json={"body": "hello"})

        assert response.status_code == 201
        assert (
            await notes.fetchval("SELECT body FROM notes WHERE id = $1", response.json()["id"])
            == "hello"
        )

    async def test_an_error_rolls_back_what_the_request_wrote(
        self, path: str, demo_client: httpx.AsyncClient, notes: asyncpg.Connection
    ) -> None:
        response = await demo_client.post(path, json={"body": "doomed", "fail_after_insert": True})

        assert response.status_code == 409
        assert await notes.fetchval("SELECT count(*) FROM notes WHERE body = 'doomed'") == 0

    async def test_a_failed_commit_is_an_error_response_never_a_2xx(
        self, path: str, demo_client: httpx.AsyncClient, notes: asyncpg.Connection
    ) -> None:
        await demo_client.post(path, json={"body": "once"})

        # The deferred constraint passes the insert and fails the commit.
        response = await demo_client.post(path, json={"body": "once"})

        assert response.status_code == 409
        assert response.json()["detail"] == "A note with this body already exists."
        assert await notes.fetchval("SELECT count(*) FROM notes WHERE body = 'once'") == 1


class TestIdempotency:
    async def test_a_failure_leaves_neither_the_row_nor_its_key(
        self, demo_client: httpx.AsyncClient, notes: asyncpg.Connection, token_factory: TokenFactory
    ) -> None:
        headers = {
            "Authorization": f"Bearer {token_factory.issue()}",
            "Idempotency-Key": "note-1",
        }
        failed = await demo_client.post(
            "/idem/notes", json={"body": "once", "fail_after_insert": True}, headers=headers
        )
        rows_after_failure = await notes.fetchval("SELECT count(*) FROM notes")
        keys_after_failure = await notes.fetchval("SELECT count(*) FROM idempotency_keys")

        created = await demo_client.post("/idem/notes", json={"body": "once"}, headers=headers)
        replayed = await demo_client.post("/idem/notes", json={"body": "once"}, headers=headers)

        assert failed.status_code == 409
        assert (rows_after_failure, keys_after_failure) == (0, 0)
        assert created.status_code == replayed.status_code == 201
        assert replayed.json() == created.json()
        assert replayed.headers["idempotent-replayed"] == "true"
        assert await notes.fetchval("SELECT count(*) FROM notes") == 1
        assert await notes.fetchval("SELECT count(*) FROM idempotency_keys") == 1


class TestReads:
    async def test_a_reader_sees_what_was_committed(
        self, demo_client: httpx.AsyncClient, notes: asyncpg.Connection
    ) -> None:
        await demo_client.post("/notes", json={"body": "first"})
        await demo_client.post("/notes", json={"body": "second"})

        response = await demo_client.get("/read/notes")

        assert response.json() == ["first", "second"]

    async def test_a_value_postgresql_refuses_is_422_not_500(
        self, demo_client: httpx.AsyncClient, notes: asyncpg.Connection
    ) -> None:
        response = await demo_client.get("/read/notes", params={"body": "nul\x00byte"})

        assert response.status_code == 422
        assert response.json()["type"] == "/problems/validation-error"


class TestDroppedConnections:
    """No ping per checkout: a connection the server closed is still never handed out."""

    @pytest.mark.parametrize("path", ["/notes", "/read/notes"], ids=["session", "reader"])
    async def test_the_request_after_a_server_side_close_gets_a_new_connection(
        self,
        path: str,
        database_url: str,
        redis_url: str,
        jwks_url: str,
        notes: asyncpg.Connection,
    ) -> None:
        settings = demo_settings(
            database_url,
            redis_url,
            jwks_url,
            database=DatabaseSettings(url=database_url, pool_size=1, max_overflow=0),
        )
        before = await _demo_backends(notes)
        async with app_client(create_demo_app(settings)) as client:
            assert (await client.get(path)).status_code == 200
            (pid,) = await _demo_backends(notes) - before
            await notes.execute("SELECT pg_terminate_backend($1)", pid)
            await asyncio.sleep(0.2)  # the app's event loop sees the socket close

            response = await client.get(path)

            assert response.status_code == 200
            assert pid not in await _demo_backends(notes)

    async def test_connections_beyond_the_pool_size_are_closed_on_their_return(
        self, database_url: str, redis_url: str, jwks_url: str, notes: asyncpg.Connection
    ) -> None:
        settings = demo_settings(
            database_url,
            redis_url,
            jwks_url,
            database=DatabaseSettings(url=database_url, pool_size=1, max_overflow=5),
        )
        before = await _demo_backends(notes)
        async with app_client(create_demo_app(settings)) as client:
            responses = await asyncio.gather(*(client.get("/read/notes") for _ in range(40)))
            await asyncio.sleep(0.2)  # the server sees the overflow's connections close
            left = await _demo_backends(notes) - before

        assert {r.status_code for r in responses} == {200}
        assert len(left) == 1  # the pool's one; the overflow was closed, not dropped


async def _demo_backends(connection: asyncpg.Connection) -> set[int]:
    rows = await connection.fetch(
        "SELECT pid FROM pg_stat_activity"
        " WHERE application_name = 'demo' AND pid <> pg_backend_pid()"
    )
    return {row["pid"] for row in rows}


class TestRateLimits:
    @pytest.fixture
    def limited(self, database_url: str, redis_url: str, jwks_url: str) -> Callable[..., FastAPI]:
        def build(rate: str = "3/minute", **http: Any) -> FastAPI:
            settings = demo_settings(
                database_url,
                redis_url,
                jwks_url,
                http=HttpSettings.model_validate({"rate_limit": rate, **http}),
            )
            return create_demo_app(settings)

        return build

    async def test_every_api_response_carries_the_ietf_fields(
        self, redis: Redis, limited: Callable[..., FastAPI]
    ) -> None:
        async with app_client(limited("600/minute")) as client:
            first = await client.get("/read/notes")
            second = await client.get("/missing")

        assert first.headers["ratelimit-policy"] == '"default";q=600;w=60'
        assert first.headers["ratelimit"] == '"default";r=599;t=1'
        assert second.headers["ratelimit"] == '"default";r=598;t=1'

    async def test_past_the_quota_a_429_problem_with_retry_after(
        self, redis: Redis, limited: Callable[..., FastAPI]
    ) -> None:
        async with app_client(limited("3/minute")) as client:
            responses = [await client.get("/read/notes") for _ in range(4)]

        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        refused = responses[3]
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 20
        assert refused.headers["ratelimit"] == '"default";r=0;t=60'
        assert refused.headers["x-request-id"]

    async def test_probes_metrics_and_docs_are_not_limited(
        self, redis: Redis, limited: Callable[..., FastAPI]
    ) -> None:
        async with app_client(limited("1/minute")) as client:
            responses = [
                await client.get(path)
                for path in ["/health/live", "/health/ready", "/metrics", "/openapi.json"] * 2
            ]

        assert {r.status_code for r in responses} == {200}
        assert not any("ratelimit" in r.headers for r in responses)

    async def test_a_valid_token_is_its_users_quota_not_its_addresses(
        self, redis: Redis, limited: Callable[..., FastAPI], token_factory: TokenFactory
    ) -> None:
        alice = {"Authorization": f"Bearer {token_factory.issue()}"}
        forged = {"Authorization": "Bearer not-a-token"}
        async with app_client(limited("2/minute")) as client:
            anonymous = [await client.get("/read/notes") for _ in range(2)]
            with_forged_token = await client.get("/read/notes", headers=forged)
            as_alice = await client.get("/whoami", headers=alice)

        assert [r.status_code for r in anonymous] == [200, 200]
        assert with_forged_token.status_code == 429  # counted against the address
        assert as_alice.status_code == 200
        assert as_alice.headers["ratelimit"] == '"default";r=1;t=30'

    async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_quota(
        self, redis: Redis, limited: Callable[..., FastAPI]
    ) -> None:
        app = limited("1/minute", trusted_proxies=["127.0.0.1"])
        async with app_client(app) as client:
            first = await client.get("/read/notes", headers={"X-Forwarded-For": "203.0.113.1"})
            other = await client.get("/read/notes", headers={"X-Forwarded-For": "203.0.113.2"})
            again = await client.get("/read/notes", headers={"X-Forwarded-For": "203.0.113.1"})

        assert (first.status_code, other.status_code, again.status_code) == (200, 200, 429)

    async def test_no_overshoot_across_two_instances(
        self, redis: Redis, limited: Callable[..., FastAPI]
    ) -> None:
        async with app_client(limited("50/minute")) as one, app_client(limited("50/minute")) as two:
            responses = await asyncio.gather(
                *((one, two)[i % 2].get("/missing") for i in range(200))
            )

        statuses = [r.status_code for r in responses]
        assert statuses.count(404) == 50
        assert statuses.count(429) == 150

    async def test_refusals_are_counted_in_metrics(
        self, redis: Redis, limited: Callable[..., FastAPI]
    ) -> None:
        async with app_client(limited("1/minute")) as client:
            for _ in range(3):
                await client.get("/missing")
            metrics = (await client.get("/metrics")).text

        assert 'rate_limit_refused_total{policy="default"} 2.0' in metrics
        assert "rate_limit_local_decisions_total 0.0" in metrics

    async def test_switched_off_nothing_is_limited(
        self, redis: Redis, limited: Callable[..., FastAPI]
    ) -> None:
        async with app_client(limited("1/minute", rate_limit_enabled=False)) as client:
            responses = [await client.get("/missing") for _ in range(3)]

        assert {r.status_code for r in responses} == {404}
        assert not any("ratelimit" in r.headers for r in responses)

    @pytest.mark.parametrize("rate", ["often", "10/fortnight", "0/minute"])
    def test_a_bad_rate_is_a_settings_error(self, rate: str) -> None:
        with pytest.raises(ValidationError, match="rate"):
            HttpSettings.model_validate({"rate_limit": rate})


class TestHealth:
    async def test_live(self, demo_client: httpx.AsyncClient) -> None:
        response = await demo_client.get("/health/live")

        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_ready_when_the_database_and_redis_answer(
        self, demo_client: httpx.AsyncClient
    ) -> None:
        response = await demo_client.get("/health/ready")

        assert response.status_code == 200
        assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


class TestDependenciesDown:
    """With PostgreSQL and Redis unreachable: 503s that say so, never a 500 or a hang."""

    @pytest.fixture
    def down_app(self, jwks_url: str) -> FastAPI:
        settings = demo_settings(
            f"postgresql://nobody:secret@127.0.0.1:{free_port()}/nothing",
            f"redis://127.0.0.1:{free_port()}/0",
            jwks_url,
            database=DatabaseSettings(
                url=f"postgresql://nobody:secret@127.0.0.1:{free_port()}/nothing", connect_timeout=1
            ),
            redis=RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout=1),
        )
        return create_demo_app(settings)

    async def test_ready_is_503_naming_each_failed_check(self, down_app: FastAPI) -> None:
        async with app_client(down_app) as client:
            response = await client.get("/health/ready")

        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert set(body["checks"]) == {"database", "redis"}
        assert all(check != "ok" for check in body["checks"].values())
        assert "secret" not in response.text

    async def test_a_request_that_needs_the_database_is_503_with_retry_after(
        self, down_app: FastAPI
    ) -> None:
        async with app_client(down_app) as client:
            response = await client.get("/count")

        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.headers["content-type"] == "application/problem+json"
        assert "secret" not in response.text

    async def test_live_still_answers(self, down_app: FastAPI) -> None:
        async with app_client(down_app) as client:
            response = await client.get("/health/live")

        assert response.status_code == 200

    async def test_rate_limits_still_hold_without_redis(self, down_app: FastAPI) -> None:
        async with app_client(down_app) as client:
            response = await client.get("/missing")
            metrics = (await client.get("/metrics")).text

        assert response.status_code == 404
        assert response.headers["ratelimit"] == '"default";r=599;t=1'
        assert "rate_limit_local_decisions_total 1.0" in metrics


class TestMetrics:
    async def test_switched_off_nothing_is_counted_or_served(
        self, database_url: str, redis_url: str, jwks_url: str
    ) -> None:
        settings = demo_settings(
            database_url, redis_url, jwks_url, metrics=MetricsSettings(enabled=False)
        )
        async with app_client(create_demo_app(settings)) as client:
            assert (await client.get("/health/live")).status_code == 200
            assert (await client.get("/metrics")).status_code == 404

    async def test_counts_requests_by_route_template_and_status(
        self, demo_client: httpx.AsyncClient
    ) -> None:
        await demo_client.get("/no/such/path")
        await demo_client.post("/notes", json={})

        response = await demo_client.get("/metrics")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert 'http_requests_total{method="POST",route="/notes",status="422"}' in text
        assert 'http_requests_total{method="GET",route="<unmatched>",status="404"}' in text
        assert "http_request_duration_seconds_bucket" in text

    async def test_exposes_the_database_pool(self, demo_client: httpx.AsyncClient) -> None:
        await demo_client.get("/health/ready")

        text = (await demo_client.get("/metrics")).text

        assert "db_pool_size 10.0" in text
        assert 'db_pool_connections{state="idle"}' in text


class TestCreateServiceApp:
    def test_refuses_a_router_that_is_not_a_service_router(
        self, database_url: str, redis_url: str, jwks_url: str
    ) -> None:
        plain = APIRouter()

        @plain.get("/plain")
        async def plain_route() -> None:
            """A route without the media-type checks of a ServiceRoute."""

        settings = demo_settings(database_url, redis_url, jwks_url)

        with pytest.raises(TypeError, match="ServiceRouter"):
            create_demo_app(settings, routers=[plain])


class TestOpenApi:
    async def test_errors_are_documented_as_problem_details(
        self, demo_client: httpx.AsyncClient
    ) -> None:
        schema = (await demo_client.get("/openapi.json")).json()

        post_notes = schema["paths"]["/notes"]["post"]["responses"]
        for status in ("413", "415", "422"):
            assert "application/problem+json" in post_notes[status]["content"]
        assert post_notes["422"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
            "/ValidationProblem"
        )
        assert "HTTPValidationError" not in schema["components"]["schemas"]

    async def test_database_routes_document_their_503(self, demo_client: httpx.AsyncClient) -> None:
        paths = (await demo_client.get("/openapi.json")).json()["paths"]

        assert "503" in paths["/notes"]["post"]["responses"]
        assert "503" not in paths["/whoami"]["get"]["responses"]

    async def test_docs_are_served(self, demo_client: httpx.AsyncClient) -> None:
        response = await demo_client.get("/docs")

        assert response.status_code == 200
        assert "swagger" in response.text.lower()
