"""The job lifecycle over the SDK against a live server whose clock the test drives."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from livejobs_sdk import CallError, Fatal, JobFailed
from tests.helpers import running_worker, wait_count, wait_for_doc, wait_status


async def test_delay_waits_until_the_clock_passes(clocked_server):
    async with clocked_server.client() as client:
        job = await client.job("later").delay(60).save()
        assert job.status == "waiting"
        clocked_server.clock.advance(59)
        await clocked_server.settle()
        assert (await client.get_job(job.id))["status"] == "waiting"
        clocked_server.clock.advance(1)
        await wait_status(client, job.id, "ready")


async def test_after_a_datetime_and_ready_now(clocked_server):
    async with clocked_server.client() as client:
        at = datetime.fromtimestamp(clocked_server.clock.now() + 3600, UTC)
        job = await client.job("at").after(at).save()
        assert job.doc["after"] == pytest.approx(at.timestamp())
        await job.ready()
        assert job.status == "ready"


async def test_retry_with_exponential_backoff_keeps_every_failure(clocked_server):
    clock = clocked_server.clock
    attempts = []

    async def flaky(job):
        attempts.append(job.attempt)
        raise RuntimeError(f"boom {job.attempt}")

    async with clocked_server.client() as client:
        job = await client.job("flaky").retry(retries=2, wait=10, backoff="exponential").save()
        async with running_worker(client, "flaky", flaky):
            doc = await wait_for_doc(client, job.id, lambda d: len(d["failures"]) == 1)
            assert doc["status"] == "waiting" and doc["after"] == pytest.approx(clock.now() + 10)
            clock.advance(10)
            doc = await wait_for_doc(client, job.id, lambda d: len(d["failures"]) == 2)
            assert doc["after"] == pytest.approx(clock.now() + 20)  # doubled
            clock.advance(20)
            doc = await wait_status(client, job.id, "failed")
        with pytest.raises(JobFailed):
            await job.result(timeout=5)
    assert attempts == [1, 2, 3]
    assert [f["error"]["message"] for f in doc["failures"]] == ["boom 1", "boom 2", "boom 3"]
    assert all(f["worker"] for f in doc["failures"]) and doc["reason"] == "boom 3"


async def test_fatal_fails_without_retry_and_restart_gives_fresh_attempts(clocked_server):
    async def fatal(job):
        raise Fatal("bad input")

    async with clocked_server.client() as client:
        job = await client.job("fatal").retry(retries=5).save()
        async with running_worker(client, "fatal", fatal):
            doc = await wait_status(client, job.id, "failed")
        assert doc["attempts"] == 1 and doc["reason"] == "bad input"
        await job.restart()
        assert job.status == "ready" and job.doc["attempts"] == 0

        async def fine(job):
            return "ok"

        async with running_worker(client, "fatal", fine):
            assert await job.result(timeout=10) == "ok"


async def test_repeat_every_n_seconds_a_number_of_times(clocked_server):
    clock = clocked_server.clock
    runs = []

    async def tick(job):
        runs.append(job.doc["repeat"]["run"])

    async with clocked_server.client() as client:
        await client.job("tick").repeat(every=60, times=3).save()
        async with running_worker(client, "tick", tick):
            for expected in (1, 2, 3):
                docs = await wait_count(client, {"type": "tick", "status": "completed"}, expected)
                clock.advance(60)
        assert runs == [1, 2, 3]
        assert len(docs) == 3
        assert await client.find({"type": "tick", "status": {"$ne": "completed"}}) == []


@pytest.mark.parametrize(("fixed", "next_step"), [(False, 150), (True, 120)])
async def test_repeat_every_after_a_long_run(clocked_server, fixed, next_step):
    """A 90 s run of a 60 s schedule: the next run comes 60 s after its finish, or with
    ``fixed`` at the next step of 60 s from the first run's time (the one at 60 s passed)."""
    clock = clocked_server.clock

    async def long_run(job):
        clock.advance(90)

    async with clocked_server.client() as client:
        first = await client.job("long").repeat(every=60, times=2, fixed=fixed).save()
        assert first.doc["repeat"]["fixed"] is fixed
        assert first.doc["repeat"].get("anchor") == (first.doc["after"] if fixed else None)
        async with running_worker(client, "long", long_run, lease=600):
            [after] = await wait_count(client, {"type": "long", "status": "waiting"}, 1)
        assert after["after"] == pytest.approx(first.doc["after"] + next_step, abs=0.01)
        with pytest.raises(CallError, match="fixed"):
            await client.job("c").repeat(cron="* * * * *", fixed=True).save()


async def test_cron_repeat_runs_at_the_next_matching_minute_in_its_zone(clocked_server):
    async with clocked_server.client() as client:
        job = await client.job("cron").repeat(cron="*/5 * * * *", tz="Europe/Paris").save()
        assert job.status == "waiting"
        assert job.doc["after"] % 300 == 0 and job.doc["after"] > clocked_server.clock.now()


async def test_cron_repeat_runs_several_times_on_its_schedule(clocked_server):
    clock = clocked_server.clock
    started: list[float] = []

    async def tick(job):
        started.append(clock.now())

    async with clocked_server.client() as client:
        job = await client.job("cron-tick").repeat(cron="*/5 * * * *", times=3).save()
        first = job.doc["after"]
        async with running_worker(client, "cron-tick", tick):
            for n in (1, 2, 3):
                clock.advance(first + (n - 1) * 300 - clock.now())
                await wait_count(client, {"type": "cron-tick", "status": "completed"}, n)
        docs = await client.find({"type": "cron-tick"}, sort=[["created", 1]])
    assert started == [first, first + 300, first + 600]
    assert [d["repeat"]["run"] for d in docs] == [1, 2, 3]
    assert all(d["status"] == "completed" for d in docs)


async def test_dependencies_wait_then_run_and_failure_cancels_dependants(clocked_server):
    async with clocked_server.client() as client:
        first = await client.job("step", "first").save()
        second = await client.job("step", "second").depends(first).save()
        assert second.status == "waiting"
        doomed = await client.job("doomed").save()
        orphan = await client.job("step", "orphan").depends(doomed.id, first.id).save()
        await doomed.cancel()
        doc = await wait_status(client, orphan.id, "cancelled")
        assert doc["reason"] == f"dependency {doomed.id} cancelled"

        async def step(job):
            return job.data

        async with running_worker(client, "step", step):
            assert await second.result(timeout=10) == "second"
        assert (await client.get_job(first.id))["status"] == "completed"
        with pytest.raises(CallError) as info:
            await client.job("step").depends("no-such-job").save()
        assert info.value.code == "invalid"


async def test_key_keeps_one_live_job(clocked_server):
    async with clocked_server.client() as client:
        one = await client.job("keyed", {"v": 1}).key("invoice-42").save()
        again = await client.job("keyed", {"v": 2}).key("invoice-42").save()
        assert again.id == one.id and again.data == {"v": 1}
        await one.cancel()
        fresh = await client.job("keyed", {"v": 3}).key("invoice-42").save()
        assert fresh.id != one.id


async def test_expire_fails_a_job_nobody_started(clocked_server):
    async with clocked_server.client() as client:
        job = await client.job("perishable").expire(30).save()
        clocked_server.clock.advance(31)
        doc = await wait_status(client, job.id, "failed")
        assert doc["reason"] == "expired"


async def test_target_and_exclude_route_work(clocked_server):
    got: dict[str, list[str]] = {"a": [], "b": []}
    both = asyncio.Event()

    def handler_for(name):
        async def handler(job):
            got[name].append(job.data)
            if len(got["a"]) + len(got["b"]) == 2:
                both.set()

        return handler

    async with clocked_server.client() as a, clocked_server.client() as b:
        await a.job("aff", "for-b").target("admin/b").save()  # worker ids are <user>/<name>
        await a.job("aff", "not-a").exclude("admin/a").save()
        async with (
            running_worker(a, "aff", handler_for("a"), worker_id="a"),
            running_worker(b, "aff", handler_for("b"), worker_id="b"),
        ):
            await asyncio.wait_for(both.wait(), 10)
    assert got == {"a": [], "b": ["for-b", "not-a"]} or sorted(got["b"]) == ["for-b", "not-a"]


async def test_control_methods_and_illegal_moves(clocked_server):
    async with clocked_server.client() as client:
        job = await client.job("ctl").save()
        await job.pause()
        assert job.status == "paused"
        with pytest.raises(CallError) as info:
            await job.pause()
        assert info.value.code == "conflict"
        await job.resume()
        assert job.status == "ready"
        with pytest.raises(CallError) as info:
            await job.remove()
        assert info.value.code == "conflict"
        await job.cancel()
        with pytest.raises(CallError):
            await job.rerun()  # only completed jobs rerun
        assert await job.remove() is True
        with pytest.raises(CallError) as info:
            await job.refresh()
        assert info.value.code == "not_found"


async def test_rerun_copies_a_completed_job(clocked_server):
    async def work(job):
        return job.data * 2

    async with clocked_server.client() as client:
        job = await client.job("dbl", 21).save()
        async with running_worker(client, "dbl", work):
            assert await job.result(timeout=10) == 42
            copy = await job.rerun()
            assert copy.id != job.id
            assert await copy.result(timeout=10) == 42


async def test_bulk_control_for_managers(clocked_server):
    async with clocked_server.client() as client:
        ids = await client.create_many([("bulk", i) for i in range(5)])
        result = await client.pause_jobs(ids + ["missing"])
        assert sorted(result["done"]) == sorted(ids)
        assert result["errors"]["missing"]["code"] == "not_found"
        assert {d["status"] for d in await client.find({"type": "bulk"})} == {"paused"}
        assert sorted((await client.cancel_jobs(ids))["done"]) == sorted(ids)
        assert sorted((await client.remove_jobs(ids))["done"]) == sorted(ids)


async def test_cancel_racing_done_one_wins(clocked_server):
    async with clocked_server.client() as client:
        await client.job("racy").save()
        [claimed] = await client.call("jobs.claim", {"types": ["racy"]})
        lease = claimed["lease"]["token"]
        results = await asyncio.gather(
            client.call("jobs.cancel", {"id": claimed["id"]}),
            client.call("jobs.done", {"id": claimed["id"], "lease": lease, "result": 1}),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, CallError)]
        assert len(errors) == 1 and errors[0].code == "conflict"
        final = await client.get_job(claimed["id"])
        assert final["status"] in ("cancelled", "completed")


async def test_the_worker_renews_the_lease_of_every_job_it_holds(server):
    """One running and one prefetched job outlive their one-second lease several times over:
    the worker's heartbeats renew both, so neither attempt is lost."""
    release = asyncio.Event()

    async def held(job):
        await release.wait()
        return job.data

    async with server.client() as client:
        jobs = [await client.job("renewed", n).save() for n in (1, 2)]
        async with running_worker(client, "renewed", held, lease=1, prefetch=1):
            for job in jobs:
                renewed_twice = job.doc["version"] + 3  # the claim, then two heartbeats
                doc = await wait_for_doc(
                    client,
                    job.id,
                    lambda d, v=renewed_twice: d["status"] == "running" and d["version"] >= v,
                )
                assert doc["lease"]["expires"] - doc["updated"] == pytest.approx(1.0)
            release.set()
            done = [await wait_status(client, job.id, "completed") for job in jobs]
    assert [d["result"] for d in done] == [1, 2]
    assert all(d["attempts"] == 1 and not d["failures"] for d in done)


async def test_lease_expires_when_no_heartbeat(clocked_server):
    async with clocked_server.client() as client:
        job = await client.job("frozen").retry(retries=1).save()
        [claimed] = await client.call("jobs.claim", {"types": ["frozen"], "lease": 30})
        clocked_server.clock.advance(31)
        doc = await wait_status(client, job.id, "ready", "waiting")
        assert doc["failures"][0]["error"] == "lease expired: worker lost"
        with pytest.raises(CallError) as info:
            await client.call("jobs.done", {"id": job.id, "lease": claimed["lease"]["token"]})
        assert info.value.code == "conflict"


async def test_retention_removes_finished_jobs(clocked_server):
    async with clocked_server.client() as client:
        job = await client.job("old").retain(60).save()
        keep = await client.job("old").save()
        await job.cancel()
        await keep.cancel()
        clocked_server.clock.advance(61)
        await wait_count(client, {"type": "old"}, 1)
        assert (await client.find({"type": "old"}))[0]["id"] == keep.id
        clocked_server.clock.advance(7 * 86400)
        await wait_count(client, {"type": "old"}, 0)


async def test_audit_trail_names_who_did_what(clocked_server):
    async with clocked_server.client() as client:
        job = await client.job("audit").save()
        await job.pause()
        await job.resume()
        doc = await client.get_job(job.id)
        assert [(e["message"], e["by"]) for e in doc["log"]] == [
            ("created", "admin"),
            ("paused", "admin"),
            ("resumed", "admin"),
        ]
