"""Basic-auth parsing and the cache of verified credentials (no Kafka: a fake verifier)."""

from __future__ import annotations

import base64
import threading
import time

import pytest

from streamplane.registry._auth import AuthSettings, CredentialCache, parse_basic


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_basic_headers_are_parsed_and_anything_else_is_no_credentials() -> None:
    assert parse_basic(basic("alice:s3cr:et")) == ("alice", "s3cr:et")  # ':' allowed in passwords
    assert parse_basic(basic("alice:")) == ("alice", "")
    assert parse_basic("basic " + base64.b64encode(b"a:b").decode()) == ("a", "b")
    for header in (None, "", "Bearer abc", "Basic", "Basic !!!", basic("no-colon"), basic(":pw")):
        assert parse_basic(header) is None, header


class FakeKafka:
    def __init__(self, passwords: dict[str, str], *, delay_s: float = 0.0) -> None:
        self.passwords = passwords
        self.delay_s = delay_s
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, user: str, password: str) -> bool:
        with self.lock:
            self.calls += 1
        time.sleep(self.delay_s)
        return self.passwords.get(user) == password


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_verified_password_is_trusted_until_the_ttl_then_asked_again() -> None:
    kafka, clock = FakeKafka({"alice": "pw"}), Clock()
    cache = CredentialCache(kafka, settings=AuthSettings(cache_ttl_s=60), clock=clock)
    assert cache.cached("alice", "pw") is None
    assert cache.verify("alice", "pw") is True
    assert cache.cached("alice", "pw") is True and kafka.calls == 1
    clock.now += 61
    assert cache.cached("alice", "pw") is None
    assert cache.verify("alice", "pw") is True and kafka.calls == 2


def test_a_wrong_password_is_refused_and_remembered_briefly() -> None:
    kafka, clock = FakeKafka({"alice": "pw"}), Clock()
    cache = CredentialCache(kafka, settings=AuthSettings(failure_ttl_s=2), clock=clock)
    assert cache.verify("alice", "guess") is False
    assert cache.cached("alice", "guess") is False
    assert cache.cached("alice", "pw") is None  # another password is another entry
    clock.now += 3
    assert cache.cached("alice", "guess") is None


def test_the_cache_holds_salted_hashes_not_passwords() -> None:
    cache = CredentialCache(FakeKafka({"alice": "correct horse"}))
    cache.verify("alice", "correct horse")
    keys = list(cache._entries)
    assert all(b"correct horse" not in key and b"alice" not in key for key in keys)
    other = CredentialCache(FakeKafka({"alice": "correct horse"}))
    other.verify("alice", "correct horse")
    assert list(other._entries) != keys  # the salt differs per process


def test_concurrent_requests_with_the_same_credentials_share_one_handshake() -> None:
    kafka = FakeKafka({"alice": "pw"}, delay_s=0.3)
    cache = CredentialCache(kafka)
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.verify("alice", "pw")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 8 and kafka.calls == 1


def test_a_failing_verifier_fails_every_waiter_and_caches_nothing() -> None:
    def unreachable(user: str, password: str) -> bool:
        raise TimeoutError("cluster down")

    cache = CredentialCache(unreachable)
    with pytest.raises(TimeoutError):
        cache.verify("alice", "pw")
    assert cache.cached("alice", "pw") is None


def test_the_cache_is_bounded() -> None:
    cache = CredentialCache(FakeKafka({}), settings=AuthSettings(max_cached=3))
    for n in range(10):
        cache.verify("u", str(n))
    assert len(cache._entries) == 3
    assert cache.cached("u", "9") is False and cache.cached("u", "0") is None
