"""/metrics moves when jobs run; /healthz and /readyz tell liveness from readiness."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from livejobs.state import state_of
from livejobs_sdk import Fatal, JobFailed
from tests.helpers import running_worker, wait_for_doc


async def scrape(server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_after_jobs_run(server):
    before = await scrape(server)
    assert value(before, "livejobs_jobs_created_total", type="m") == 0
    assert value(before, "livejobs_clients") == 0

    async def handler(job):
        if job.data == "bad":
            raise Fatal("no")
        return job.data

    async with server.client() as client, server.client() as worker:
        async with running_worker(worker, "m", handler, concurrency=2):
            assert await client.run("m", 1, timeout=10) == 1
            assert await client.run("m", 2, timeout=10) == 2
            try:
                await client.run("m", "bad", timeout=10)
            except JobFailed:
                pass
            ready = await client.job("other", None).save()
            async with client.subscribe({"type": "m"}) as sub:
                await sub.ready.wait()
                during = await scrape(server)
        after = await scrape(server)

    assert value(during, "livejobs_clients") == 2
    assert value(during, "livejobs_workers") == 1
    assert value(during, "livejobs_subscriptions") == 1
    assert value(after, "livejobs_workers") == 0 and value(after, "livejobs_subscriptions") == 0

    assert value(after, "livejobs_jobs_created_total", type="m") == 3
    assert value(after, "livejobs_jobs_created_total", type="other") == 1
    assert value(after, "livejobs_jobs_completed_total", type="m") == 2
    assert value(after, "livejobs_jobs_failed_total", type="m") == 1
    assert value(after, "livejobs_attempts_failed_total", type="m") == 1
    assert value(after, "livejobs_jobs_dispatched_total", type="m") == 3
    assert value(after, "livejobs_dispatch_latency_seconds_count", type="m") == 3
    assert value(after, "livejobs_run_seconds_count", type="m") == 3
    assert value(after, "livejobs_run_seconds_bucket", type="m", le="+Inf") == 3
    # computed from the store at scrape time
    assert value(after, "livejobs_jobs", type="m", status="completed") == 2
    assert value(after, "livejobs_jobs", type="m", status="failed") == 1
    assert value(after, "livejobs_jobs", type="other", status="ready") == 1
    assert ready.status == "ready"
    # every change passed through the feed: 4 inserts and the updates of 3 runs
    assert value(after, "livejobs_feed_changes_total", op="insert") == 4
    assert value(after, "livejobs_feed_lag_seconds_count") >= 4 + 3 * 2
    assert 0 <= value(after, "livejobs_feed_lag_last_seconds") < 5


async def test_finishes_count_once_per_transition_not_per_change(server):
    async def fail_first(job):
        if not job.doc["failures"]:
            raise Fatal("first attempt fails")
        return "second"

    async with server.client() as client, server.client() as worker:
        async with running_worker(worker, "r", fail_first):
            job = await client.job("r", 1).save()
            try:
                await job.result(10)
            except JobFailed:
                pass
            await client.call("jobs.log", {"id": job.id, "message": "a note"})  # a change
            await job.restart()
            assert await job.result(10) == "second"
            await client.call("jobs.log", {"id": job.id, "message": "another"})
            # the feed has passed the note on once a subscriber sees it
            await wait_for_doc(client, job.id, lambda d: d["log"][-1]["message"] == "another")
    samples = await scrape(server)
    assert value(samples, "livejobs_jobs_failed_total", type="r") == 1
    assert value(samples, "livejobs_jobs_completed_total", type="r") == 1
    assert value(samples, "livejobs_jobs_created_total", type="r") == 1
    assert value(samples, "livejobs_run_seconds_count", type="r") == 2


async def test_readiness_fails_when_the_store_is_unreachable(server):
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"ok": True}

        await server.services.store.close()  # as if the database went away

        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert any(p.startswith("store unreachable") for p in ready.json()["problems"])
        assert (await http.get("/healthz")).status_code == 200  # alive, just not ready
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200 and "# store unreachable" in metrics.text


async def test_readiness_fails_when_the_change_feed_stops(server):
    feed = next(t for t in state_of(server.app).tasks if t.get_name() == "livejobs-feed")
    feed.cancel()
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 503 and "livejobs-feed stopped" in ready.json()["problems"]
