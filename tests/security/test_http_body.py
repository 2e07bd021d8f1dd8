"""Security issue 20, item 7: an HTTP body is counted as it streams in, refused the moment it
passes the limit, and not read at all without a valid token.

One 300 MB request used to be read whole before either check (server RSS 56 → 642 MB). The body
here is a generator: the test never holds it either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import psutil

from tests.servers import ADMIN_TOKEN, ProcessServer

BODY = 300 * 1024 * 1024
CHUNK = b"x" * (1024 * 1024)
#: the server may use a little memory to refuse; a body read whole is hundreds of MB
GROWTH = 30 * 1024 * 1024


def _stream(sent: list[int]) -> Iterator[bytes]:
    for _ in range(BODY // len(CHUNK)):
        sent[0] += len(CHUNK)
        yield CHUNK


def _post(srv: ProcessServer, token: str | None, sent: list[int]) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    with httpx.Client(timeout=30) as http:
        return http.post(f"{srv.http_url}/api/jobs", content=_stream(sent), headers=headers)


def _rss(srv: ProcessServer) -> int:
    assert srv.proc is not None
    return int(psutil.Process(srv.proc.pid).memory_info().rss)


async def test_a_huge_body_is_refused_as_it_streams(live_server: ProcessServer) -> None:
    before, sent = _rss(live_server), [0]
    reply = _post(live_server, ADMIN_TOKEN, sent)
    assert reply.status_code == 413
    assert reply.json()["code"] == "too_large"
    assert _rss(live_server) - before < GROWTH


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    live_server: ProcessServer,
) -> None:
    """Only the headers are sent: the answer comes without waiting for the 300 MB."""
    reader, writer = await asyncio.open_connection("127.0.0.1", live_server.port)
    head = (
        f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {BODY}\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status.split()[1] == b"413"


async def test_an_unauthenticated_body_is_not_read(live_server: ProcessServer) -> None:
    before, sent = _rss(live_server), [0]
    reply = _post(live_server, "lj_wrong_0123456789abcdef0123456789abcdef", sent)
    assert reply.status_code == 401
    assert reply.json()["code"] == "unauthenticated"
    assert _rss(live_server) - before < GROWTH
    reply = _post(live_server, None, [0])
    assert reply.status_code == 401


async def test_a_body_that_is_not_an_object_is_refused_on_every_route(
    live_server: ProcessServer,
) -> None:
    """The OpenAPI document says every body is a JSON object; ``null`` was taken for ``{}``
    (schemathesis found it on ``/api/call/jobs.clean``). An empty body still means no params."""
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}", "content-type": "application/json"}
    routes = ["/api/call/jobs.clean", "/api/call/jobs.counts", "/api/jobs", "/api/claim"]
    async with httpx.AsyncClient(base_url=live_server.http_url, headers=headers) as http:
        for route in routes:
            for body in (b"null", b"[]", b"3", b'"x"'):
                reply = await http.post(route, content=body)
                assert (route, body, reply.status_code) == (route, body, 400)
                assert reply.json()["code"] == "invalid"
        assert (await http.post("/api/call/jobs.counts", content=b"")).status_code == 200
