"""``livejobs serve --db postgresql://...`` for real: one server with a worker and a subscriber
through the SDK, then two server processes on one database, where work created on one (now or
after a delay) runs on the other's worker and the first's subscriber sees it complete."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import collect_until_ready, running_worker
from tests.pg import Cluster
from tests.servers import ProcessServer


class PostgresServer(ProcessServer):
    """``livejobs serve`` on a PostgreSQL database; its log beside ``log_base``."""

    def __init__(self, url: str, log_base: Path) -> None:
        super().__init__(log_base)
        self.url = url

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--db") + 1] = self.url
        return command


@pytest.fixture
async def url(pg_cluster: Cluster) -> str:
    return pg_cluster.create_database()


@pytest.fixture
async def serve(url: str, tmp_path: Path) -> AsyncIterator[Callable[[], Awaitable[PostgresServer]]]:
    """Start ``livejobs serve`` processes on the test's database; all stopped at the end."""
    started: list[PostgresServer] = []

    async def start() -> PostgresServer:
        server = PostgresServer(url, tmp_path / f"server{len(started)}.db")
        started.append(server)
        await server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            await server.stop()
        for server in started:
            assert "Traceback" not in server.log_path.read_text(), server.log_path.read_text()


Serve = Callable[[], Awaitable[PostgresServer]]


async def double(job: Any) -> Any:
    return job.data * 2


async def test_one_server_on_postgres_runs_a_worker_and_a_subscriber(serve: Serve) -> None:
    server = await serve()
    async with server.client() as client, client.subscribe({"type": "pg"}) as sub:
        await collect_until_ready(sub)
        async with running_worker(client, "pg", double):
            assert await client.run("pg", 21, timeout=10) == 42
        kinds = []
        while True:
            event = await sub.next(10)
            kinds.append(event.kind)
            if event.doc is not None and event.doc["status"] == "completed":
                break
        assert kinds[0] == "added" and event.doc["result"] == 42


async def test_a_job_created_on_one_server_runs_on_the_others_worker(serve: Serve) -> None:
    a, b = await serve(), await serve()
    async with a.client() as producer, b.client() as worker:
        async with producer.subscribe({"type": "across"}) as sub:
            await collect_until_ready(sub)
            async with running_worker(worker, "across", double):
                job = await producer.job("across", 5).save()
                later = await producer.job("across", 7).delay(0.5).save()  # a timer too
                results = {}
                while len(results) < 2:
                    event = await sub.next(10)
                    if event.doc and event.doc["status"] == "completed":
                        results[event.id] = event.doc["result"]
        assert results == {job.id: 10, later.id: 14}
        done = await producer.get_job(job.id)
        assert done["status"] == "completed" and done["attempts"] == 1


async def test_obliterate_and_a_new_priority_reach_the_other_server(serve: Serve) -> None:
    """Through A on PostgreSQL: a job moved ahead is claimed first through B, and an
    obliterated type's jobs and rules are gone for B too."""
    a, b = await serve(), await serve()
    async with a.client() as one, b.client() as other:
        await one.job("ranked").save()
        second = await one.job("ranked").save()
        await second.set_priority("high")
        [claimed] = await other.call("jobs.claim", {"types": ["ranked"], "limit": 1})
        assert claimed["id"] == second.id
        await one.call("types.set_limits", {"type": "retired", "concurrency": 1})
        ids = [(await one.job("retired").save()).id for _ in range(3)]
        assert [r["type"] for r in await other.call("types.list", {})] == ["retired"]
        assert await one.obliterate("retired") == {"cancelled": 3, "removed": 3, "kept": 0}
        assert await other.get_jobs(ids) == []
        assert await other.call("types.list", {}) == []  # read from the database
        again = await one.job("retired").save()  # no longer paused (as it was meanwhile)
        [claimed] = await other.call("jobs.claim", {"types": ["retired"], "limit": 1})
        assert claimed["id"] == again.id


async def test_a_count_kept_through_one_server_trims_jobs_finished_on_the_other(
    serve: Serve,
) -> None:
    """``types.set_keep`` through A on PostgreSQL; jobs completed by B's worker: both servers
    trim, and only the newest two stay, whichever server removed each job."""
    a, b = await serve(), await serve()
    async with a.client() as one, b.client() as other:
        await one.set_type_keep("kept", completed=2)
        async with one.subscribe({"type": "kept", "status": "completed"}) as watched:
            await collect_until_ready(watched)
            async with running_worker(other, "kept", double):
                jobs = []
                for n in range(6):  # one at a time, so that their finish times are in order
                    jobs.append(await one.job("kept", n).save())
                    assert await jobs[-1].result(timeout=10) == 2 * n
            while len(watched.docs) != 2:
                await watched.next(10)
            assert sorted(watched.docs) == sorted(job.id for job in jobs[-2:])
        assert len(await other.get_jobs([job.id for job in jobs])) == 2
