"""Where a write runs: here when this instance is the writer, otherwise on the writer.

Any instance accepts every request. Reads are served from the local state; a write
(register, delete, config, mode, access policy) is executed by the elected writer
(``_writer``). An instance that is not the writer forwards the request as it came
(method, path, query, body, the caller's ``Authorization``) to the URL the writer
announced in ``_schemas``, and returns the writer's answer unchanged: the same status
and body, errors included, because the writer authorizes and validates it again
against the same replicated state. Confluent Schema Registry and karapace forward the
same way.

Read-your-writes across instances: the writer answers with the offset its reader had
applied when the write returned (``X-Streamplane-Offset``), and the forwarding
instance waits until its own reader has applied that offset before it answers, so a
client that registers through one instance and reads through it sees its write.

While the writer changes (a crash is noticed after the group's session timeout) a
write waits, retrying, for at most ``timeout_s``: a request that never reached a
writer is retried against the next one; one that may have reached it (the connection
broke mid-request) is retried only if repeating it is harmless (registering the same
schema again returns the same id), else it fails with 50003. Errors follow Confluent's
codes: 50001 store error, 50002 operation timed out, 50003 forwarding error, 50004
unknown leader.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.responses import JSONResponse, Response

from streamplane.errors import RegistryError
from streamplane.registry._gate import CONTENT_TYPE, FORWARDED_FOR
from streamplane.registry._service import Registry
from streamplane.registry._writer import NotWriterError

OFFSET_HEADER = "x-streamplane-offset"
#: Marks a forwarded request: its receiver executes it or says it is not the writer,
#: and never forwards it again (no loops while the announcement is stale).
FORWARDED_HEADER = "x-streamplane-forwarded"
NOT_WRITER_HEADER = "x-streamplane-not-writer"
_PASSED_HEADERS = ("authorization", "content-type", "accept")


@dataclass
class WriteRequest:
    """What a forwarded write carries; built from the HTTP request (or at start-up)."""

    method: str
    target: str  # path and query, as received (still percent-encoded)
    body: bytes
    headers: dict[str, str]
    client: str | None = None
    #: the request's ASGI state: marks a write whose audit event the writer records
    state: MutableMapping[str, Any] = field(default_factory=dict)

    @property
    def forwarded(self) -> bool:
        return FORWARDED_HEADER in self.headers


class WriteRouter:
    """Runs writes on the writer, waiting (bounded) for one to exist."""

    def __init__(
        self,
        registry: Registry,
        *,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.registry = registry
        self.timeout_s = timeout_s
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(transport=self._transport)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def write(
        self, request: WriteRequest, local: Callable[[], Any], *, idempotent: bool
    ) -> Response:
        """``local()`` (run in a thread) if this instance is the writer, else forward."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        problem: str | None = None
        known_writer = False
        while True:
            if self.registry.is_writer:
                try:
                    body = await asyncio.to_thread(local)
                except NotWriterError as exc:
                    if exc.maybe_written and not idempotent:
                        raise RegistryError(
                            500, 50001,
                            "the writer changed while this write was committed; it may or may "
                            "not have been applied: read the subject back before retrying",
                        ) from exc  # fmt: skip
                    problem = exc.message
                else:
                    return JSONResponse(
                        body,
                        media_type=CONTENT_TYPE,
                        headers={OFFSET_HEADER: str(self.registry.applied_offset)},
                    )
            elif request.forwarded:
                # Announced as the writer but no longer (or not yet) it: the forwarding
                # instance retries elsewhere and records the outcome itself.
                request.state["audit_elsewhere"] = True
                return JSONResponse(
                    {"error_code": 50004, "message": "Unknown leader: this instance is not the "
                     "writer; retry through another instance"},
                    status_code=500, media_type=CONTENT_TYPE, headers={NOT_WRITER_HEADER: "1"},
                )  # fmt: skip
            else:
                url = self.registry.writer_url()
                if url is None or url == self.registry.advertised_url:
                    problem = problem or "no writer is elected"
                else:
                    known_writer = True
                    outcome = await self._forward(url, request, deadline, idempotent=idempotent)
                    if isinstance(outcome, Response):
                        return outcome
                    problem = outcome
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0.1)
        if known_writer:
            raise RegistryError(
                500, 50003, f"Error while forwarding the request to the leader: {problem}"
            )
        raise RegistryError(
            500, 50004, f"Unknown leader: {problem} (waited {self.timeout_s:.0f}s for one)"
        )

    async def _forward(
        self, url: str, request: WriteRequest, deadline: float, *, idempotent: bool
    ) -> Response | str:
        """The writer's answer, or why there is none yet (worth retrying)."""
        assert self._client is not None, "WriteRouter.start() was not awaited"
        loop = asyncio.get_running_loop()
        headers = {k: v for k, v in request.headers.items() if k in _PASSED_HEADERS}
        headers[FORWARDED_HEADER] = "1"
        if request.client:
            headers[FORWARDED_FOR] = request.client
        try:
            answer = await self._client.request(
                request.method,
                url.rstrip("/") + request.target,
                content=request.body,
                headers=headers,
                timeout=max(1.0, deadline - loop.time()),
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return f"cannot reach the writer at {url}: {exc!r}"  # never sent: always retried
        except httpx.HTTPError as exc:
            if idempotent:
                return f"no answer from the writer at {url}: {exc!r}"
            raise RegistryError(
                500, 50003,
                f"Error while forwarding the request to the leader at {url}: {exc!r}; the "
                "write may or may not have been applied: read it back before retrying",
            ) from exc  # fmt: skip
        if answer.headers.get(NOT_WRITER_HEADER):
            return f"{url} is no longer the writer"
        offset = answer.headers.get(OFFSET_HEADER)
        if offset is not None:
            wait_s = max(5.0, deadline - loop.time())
            if not await asyncio.to_thread(self.registry.wait_applied, int(offset), wait_s):
                raise RegistryError(
                    500, 50002,
                    f"Operation timed out: the writer applied the write (offset {offset}) but "
                    f"this instance had not read it within {wait_s:.0f}s",
                )  # fmt: skip
        request.state["audit_elsewhere"] = True  # the writer's own audit event records it
        passed = {OFFSET_HEADER: offset} if offset is not None else {}
        return Response(
            answer.content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type", CONTENT_TYPE),
            headers=passed,
        )
