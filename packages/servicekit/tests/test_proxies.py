"""`TrustedProxies`: which address of ``X-Forwarded-For`` is the client's."""

from __future__ import annotations

import ipaddress

import pytest

from servicekit.http.middleware import TrustedProxies

PROXIES = TrustedProxies(["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"])


class TestClient:
    def test_an_untrusted_peer_is_the_client_whatever_it_claims(self) -> None:
        assert PROXIES.client("198.51.100.7", b"203.0.113.9") == "198.51.100.7"

    def test_a_trusted_peer_without_the_header_is_the_client(self) -> None:
        assert PROXIES.client("10.0.0.1", None) == "10.0.0.1"

    def test_the_rightmost_address_that_is_not_a_trusted_proxy(self) -> None:
        # The client forged the first entry; the proxies appended the rest.
        forwarded = b"1.1.1.1, 203.0.113.9, 10.9.9.9, 192.0.2.1"

        assert PROXIES.client("10.0.0.1", forwarded) == "203.0.113.9"

    def test_every_hop_trusted_leaves_the_leftmost(self) -> None:
        assert PROXIES.client("10.0.0.1", b"10.0.0.3, 10.0.0.2") == "10.0.0.3"

    @pytest.mark.parametrize(
        ("forwarded", "client"),
        [
            (b"203.0.113.9:51234", "203.0.113.9"),
            (b"[2001:db9::1]:443", "2001:db9::1"),
            (b"2001:db9::1", "2001:db9::1"),
            (b" 203.0.113.9 ,10.0.0.2", "203.0.113.9"),
        ],
    )
    def test_ports_brackets_and_spaces_are_read(self, forwarded: bytes, client: str) -> None:
        assert PROXIES.client("10.0.0.1", forwarded) == client

    @pytest.mark.parametrize(
        "forwarded",
        ["0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1.2.3.-4"],  # noqa: S104 -- data, not a bind
    )
    def test_ipv4_is_read_exactly_as_ipaddress_reads_it(self, forwarded: str) -> None:
        try:
            expected = str(ipaddress.ip_address(forwarded))
        except ValueError:
            expected = "10.0.0.1"  # not an address: the proxy that passed it on is the client

        assert PROXIES.client("10.0.0.1", forwarded.encode()) == expected

    def test_garbage_stops_the_walk_at_the_proxy_that_passed_it_on(self) -> None:
        assert PROXIES.client("10.0.0.1", b"203.0.113.9, unknown, 10.0.0.2") == "10.0.0.2"

    def test_an_ipv6_proxy_network(self) -> None:
        assert PROXIES.client("2001:db8::5", b"203.0.113.9") == "203.0.113.9"


class TestScheme:
    def test_the_nearest_proxys_value(self) -> None:
        assert PROXIES.scheme("10.0.0.1", b"http, HTTPS", "http") == "https"

    @pytest.mark.parametrize(
        ("peer", "proto"), [("198.51.100.7", b"https"), ("10.0.0.1", b"gopher"), ("10.0.0.1", None)]
    )
    def test_otherwise_the_connections_own(self, peer: str, proto: bytes | None) -> None:
        assert PROXIES.scheme(peer, proto, "http") == "http"
