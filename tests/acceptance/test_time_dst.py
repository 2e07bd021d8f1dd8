"""A cron repeat on the server across the autumn change: the run of a time in the repeated hour
that takes a while to finish (20 s here) is not followed by a second run of the same time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.helpers import running_worker, wait_count

PARIS = ZoneInfo("Europe/Paris")


def local(ts: float) -> str:
    return datetime.fromtimestamp(ts, PARIS).strftime("%Y-%m-%d %H:%M %z")


async def test_a_nightly_run_in_the_repeated_hour_runs_once(clocked_server):
    clock = clocked_server.clock
    clock.advance(datetime(2027, 10, 30, 12, 0, tzinfo=PARIS).timestamp() - clock.now())

    async def twenty_seconds(job):
        clock.advance(20)

    async with clocked_server.client() as client:
        job = await client.job("nightly").repeat(cron="30 2 * * *", tz="Europe/Paris").save()
        assert local(job.doc["after"]) == "2027-10-31 02:30 +0200"
        async with running_worker(client, "nightly", twenty_seconds):
            clock.advance(job.doc["after"] - clock.now())
            await wait_count(client, {"type": "nightly", "status": "completed"}, 1)
            following = await wait_count(client, {"type": "nightly", "status": "waiting"}, 1)
    assert local(following[0]["after"]) == "2027-11-01 02:30 +0100"
    assert following[0]["repeat"]["run"] == 2
