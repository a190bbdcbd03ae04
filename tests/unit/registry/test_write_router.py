"""Where a write goes: here, to the announced writer, or nowhere (with Confluent's 5xx codes).

The registry is a stand-in with just the role and offsets; the writer is an httpx mock.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, cast

import httpx
import pytest

from streamplane.errors import RegistryError
from streamplane.registry._forward import (
    FORWARDED_HEADER,
    NOT_WRITER_HEADER,
    OFFSET_HEADER,
    WriteRequest,
    WriteRouter,
)
from streamplane.registry._service import Registry
from streamplane.registry._writer import NotWriterError


class FakeRegistry:
    def __init__(self, *, writer_url: str | None, is_writer: bool = False) -> None:
        self.advertised_url = "http://me:8081"
        self.is_writer = is_writer
        self._writer_url = writer_url
        self.applied_offset = 10
        self.applied = threading.Condition()

    def writer_url(self) -> str | None:
        return self._writer_url

    def wait_applied(self, offset: int, timeout_s: float) -> bool:
        with self.applied:
            return self.applied.wait_for(lambda: self.applied_offset >= offset, timeout_s)


def router(fake: FakeRegistry, handler: Any, *, timeout_s: float = 1.0) -> WriteRouter:
    return WriteRouter(
        cast(Registry, fake), timeout_s=timeout_s, transport=httpx.MockTransport(handler)
    )


def request(**headers: str) -> WriteRequest:
    return WriteRequest(
        "POST", "/subjects/a%20b-value/versions?normalize=true", b'{"schema":"\\"int\\""}',
        {"content-type": "application/json", "authorization": "Basic eDp5", **headers},
        client="10.0.0.7:5555",
    )  # fmt: skip


def run(route: WriteRouter, write: WriteRequest, local: Any, *, idempotent: bool = True) -> Any:
    async def go() -> Any:
        await route.start()
        try:
            return await route.write(write, local, idempotent=idempotent)
        finally:
            await route.stop()

    return asyncio.run(go())


def never(*_: Any) -> Any:
    raise AssertionError("must not run here")


def test_the_writer_runs_the_write_itself_and_reports_its_offset() -> None:
    fake = FakeRegistry(writer_url="http://me:8081", is_writer=True)
    answer = run(router(fake, never), request(), lambda: {"id": 3})
    assert json.loads(answer.body) == {"id": 3}
    assert answer.headers[OFFSET_HEADER] == "10"


def test_a_follower_forwards_as_received_and_waits_for_the_writers_offset() -> None:
    seen: list[httpx.Request] = []

    def writer(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        threading.Timer(0.2, catch_up).start()  # this instance reads the write a bit later
        return httpx.Response(200, json={"id": 7}, headers={OFFSET_HEADER: "42"})

    fake = FakeRegistry(writer_url="http://writer:8081")

    def catch_up() -> None:
        with fake.applied:
            fake.applied_offset = 42
            fake.applied.notify_all()

    write = request()
    answer = run(router(fake, writer), write, never)
    assert (answer.status_code, json.loads(answer.body)) == (200, {"id": 7})
    assert fake.applied_offset == 42  # answered only once the write was read here
    forwarded = seen[0]
    assert str(forwarded.url) == "http://writer:8081/subjects/a%20b-value/versions?normalize=true"
    assert forwarded.headers["authorization"] == "Basic eDp5"
    assert forwarded.headers[FORWARDED_HEADER] == "1"
    assert forwarded.headers["x-streamplane-forwarded-for"] == "10.0.0.7:5555"
    assert write.state["audit_elsewhere"] is True  # the writer records it


def test_the_writers_errors_come_back_unchanged() -> None:
    body = {"error_code": 409, "message": "Schema being registered is incompatible"}
    fake = FakeRegistry(writer_url="http://writer:8081")
    answer = run(router(fake, lambda _: httpx.Response(409, json=body)), request(), never)
    assert (answer.status_code, json.loads(answer.body)) == (409, body)


def test_an_unreachable_writer_is_a_50003_after_the_wait() -> None:
    def refused(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=req)

    fake = FakeRegistry(writer_url="http://writer:8081")
    with pytest.raises(RegistryError) as info:
        run(router(fake, refused, timeout_s=0.5), request(), never)
    assert (info.value.status, info.value.error_code) == (500, 50003)
    assert info.value.message.startswith("Error while forwarding the request to the leader")
    assert "http://writer:8081" in info.value.message


def test_no_writer_at_all_is_a_50004() -> None:
    with pytest.raises(RegistryError) as info:
        run(router(FakeRegistry(writer_url=None), never, timeout_s=0.3), request(), never)
    assert info.value.error_code == 50004


def test_a_stale_writer_is_retried_until_the_new_one_answers() -> None:
    fake = FakeRegistry(writer_url="http://old:8081")

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.host == "old":
            fake._writer_url = "http://new:8081"  # the new writer's claim arrives
            return httpx.Response(500, json={"error_code": 50004}, headers={NOT_WRITER_HEADER: "1"})
        return httpx.Response(200, json={"id": 1})

    answer = run(router(fake, handler, timeout_s=5), request(), never)
    assert json.loads(answer.body) == {"id": 1}


def test_a_write_that_may_have_reached_the_writer_is_not_repeated_unless_harmless() -> None:
    calls: list[str] = []

    def flaky(req: httpx.Request) -> httpx.Response:
        calls.append(req.method)
        if len(calls) == 1:
            raise httpx.ReadTimeout("no answer", request=req)
        return httpx.Response(200, json=[1])

    fake = FakeRegistry(writer_url="http://writer:8081")
    with pytest.raises(RegistryError) as info:
        run(router(fake, flaky, timeout_s=5), request(), never, idempotent=False)
    assert info.value.error_code == 50003 and "may or may not" in info.value.message
    calls.clear()
    assert run(router(fake, flaky, timeout_s=5), request(), never).status_code == 200
    assert len(calls) == 2  # the idempotent one was sent again


def test_an_instance_that_is_no_longer_the_writer_says_so_to_a_forwarder() -> None:
    fake = FakeRegistry(writer_url="http://me:8081")
    write = request(**{FORWARDED_HEADER: "1"})
    answer = run(router(fake, never), write, never)
    assert answer.status_code == 500 and answer.headers[NOT_WRITER_HEADER] == "1"
    assert json.loads(answer.body)["error_code"] == 50004


def test_losing_the_role_mid_commit_fails_a_write_that_must_not_be_repeated() -> None:
    fake = FakeRegistry(writer_url="http://me:8081", is_writer=True)

    def fenced() -> Any:
        raise NotWriterError("fenced", maybe_written=True)

    with pytest.raises(RegistryError) as info:
        run(router(fake, never), request(), fenced, idempotent=False)
    assert info.value.error_code == 50001
