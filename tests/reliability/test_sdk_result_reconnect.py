"""Awaiting a job's result survives a reconnect, however it falls: also when the connection
drops while the wait is being set up (its ``subscribe`` sent, the reply lost with the
socket). A subscription lives and dies with its connection, so sending ``subscribe`` again
on the next one cannot open it twice."""

from __future__ import annotations

import asyncio

from livejobs_sdk import Client
from tests.servers import InProcessServer

SUBSCRIBED = b'"result":{"sub":'


class ReplyCutter:
    """A loopback TCP proxy that cuts the connection instead of passing on the first reply to
    a ``subscribe`` (server frames are not masked, so the reply can be seen on the wire)."""

    def __init__(self, upstream_port: int, *, armed: bool = True) -> None:
        self.upstream_port = upstream_port
        self.armed = armed  #: whether the next reply to a ``subscribe`` is cut
        self.cut = asyncio.Event()
        self.links: list[asyncio.StreamWriter] = []

    def cut_all(self) -> None:
        """Reset every connection going through now."""
        for link in self.links:
            link.transport.abort()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/ws"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        link = [writer, up_writer]
        self.links += link
        await asyncio.gather(
            self._pipe(reader, up_writer, link, False), self._pipe(up_reader, writer, link, True)
        )

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: list[asyncio.StreamWriter],
        replies: bool,
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if replies and SUBSCRIBED in chunk and self.armed:
                    self.armed = False
                    self.cut.set()
                    break
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for side in link:  # both sides of this connection, as a network fault would
                side.transport.abort()

    async def close(self) -> None:
        self._server.close()
        for link in self.links:
            link.transport.abort()
        await self._server.wait_closed()


async def test_a_result_awaited_when_the_connection_drops_still_comes(
    server: InProcessServer,
) -> None:
    proxy = ReplyCutter(server.port)
    url = await proxy.start()
    try:
        async with server.client() as worker_side, Client(url, server.admin_token) as client:
            job = await client.job("cut-while-waiting", 21).save()
            waiting = asyncio.create_task(job.result(timeout=10))
            await asyncio.wait_for(proxy.cut.wait(), 10)
            for claimed in await worker_side.get_work("cut-while-waiting"):
                await claimed.done(claimed.data * 2)
            assert await waiting == 42
    finally:
        await proxy.close()
