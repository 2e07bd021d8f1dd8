"""Typed tasks end to end: enqueued sync and async, arguments checked at the caller, results
decoded to the return annotation, served in-process and by ``livejobs worker MODULE``."""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime

import pytest

from livejobs_sdk import InvalidArguments, SyncClient
from livejobs_sdk.tasks import dispatch
from tests.acceptance.test_cli import assert_one_error_line, cli, stop_process, worker_process
from tests.helpers import running_worker, wait_status
from tests.workers import typed_tasks
from tests.workers.typed_tasks import Receipt, add, build_report, log_it, send_email


@pytest.fixture
def bound(sync_server):
    """The test module's ``app`` enqueuing through a sync client of ``sync_server``."""
    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        typed_tasks.app.use(client)
        try:
            yield client
        finally:
            typed_tasks.app._sync = None


def test_a_task_runs_with_its_defaults_and_its_result_is_decoded(bound):
    with typed_tasks.app.worker(concurrency=2):
        receipt = send_email.run("a@b.c", subject="hi")
        assert add.run(2, b=3) == 5  # an async function, on the worker's loop
        job = send_email.enqueue(to="x@y.z", cc=["boss@y.z"])
        assert job.result(timeout=10)["to"] == "x@y.z"
        report = build_report.enqueue(3)  # the job parameter is not an argument
        assert build_report.decode_result(report.result(timeout=10)) == "3 pages"
        assert log_it.run("hello") is None
    assert bound.get_job(report.id)["progress"]["percent"] == 100
    assert any(line["message"] == "hello" for line in bound.find({"type": "reports.log"})[0]["log"])
    assert isinstance(receipt, Receipt) and isinstance(receipt.sent, datetime)
    assert (receipt.to, receipt.subject) == ("a@b.c", "hi")
    assert receipt.thread != "MainThread"  # a plain function runs in a thread
    doc = bound.get_job(job.id)
    assert doc["type"] == "emails.send" and doc["data"] == {"to": "x@y.z", "cc": ["boss@y.z"]}
    assert doc["retry"]["retries"] == 2 and doc["time_limit"] == 60
    assert (doc["retain"], doc["keep"]) == (3600, {"completed": 100})
    bare = bound.get_job(report.id)  # a task without them
    assert (bare["time_limit"], bare["retain"], bare["keep"]) == (None, None, None)
    grouped = bound.job("other", None).group("tenant-1").time_limit(5).save()
    assert (grouped.doc["group"], grouped.doc["time_limit"]) == ("tenant-1", 5)
    high = bound.job("other", None).priority("high").save()
    assert (
        doc["priority"] == high.doc["priority"]
    )  # the decorator's priority, as the server reads it
    assert add.name == "tests.workers.typed_tasks.add"  # the default name: module and function


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {"to": 3}, "Expected `str`, got `int` - at `$.to`"),
        ((), {"to": "a@b.c", "cc": "boss@y.z"}, "Expected `array | null`, got `str`"),
        ((), {}, "missing a required argument: 'to'"),
        (("a@b.c",), {"bcc": ["x"]}, "unexpected keyword argument 'bcc'"),
        ((object(),), {}, "Encoding objects of type object is unsupported"),
    ],
)
def test_a_bad_argument_is_refused_at_the_caller_before_anything_is_stored(
    bound, args, kwargs, message
):
    with pytest.raises(InvalidArguments, match="emails.send: invalid arguments") as refused:
        send_email.enqueue(*args, **kwargs)
    assert message in str(refused.value)
    assert isinstance(refused.value, TypeError)  # as a bad call of the function would be
    assert bound.find({}) == []  # nothing was stored


async def test_enqueue_async_through_a_bound_client_and_bad_stored_data_fails_for_good(server):
    async with server.client() as client:
        typed_tasks.app.use(client)
        try:
            async with running_worker(client, [add.name], dispatch({add.name: add})):
                assert await add.run_async(20, 22) == 42
                job = await add.enqueue_async(a=1, b=2)
                assert await job.result(10) == 3
                with pytest.raises(InvalidArguments):
                    await add.enqueue_async(1, "2")
                raw = await client.job(add.name, {"a": "one", "b": 2}).retry(retries=3).save()
                doc = await wait_status(client, raw.id, "failed")
        finally:
            typed_tasks.app.use(None)
    assert doc["attempts"] == 1 and "invalid arguments" in str(doc["failures"][-1]["error"])


async def test_livejobs_worker_module_serves_every_task_of_the_module(live_server, tmp_path):
    async with live_server.client() as client:
        typed_tasks.app.use(client)
        try:
            async with worker_process(
                live_server, tmp_path, "tests.workers.typed_tasks", "--concurrency", "2"
            ) as proc:
                emailed = await send_email.run_async("a@b.c")
                assert await add.run_async(1, 2) == 3
                assert await build_report.run_async(2) == "2 pages"  # blocking calls, in a thread
                assert await stop_process(proc) == 0
            async with worker_process(
                live_server, tmp_path, "tests.workers.typed_tasks", "--type", "emails.send"
            ) as only_emails:
                mail = await send_email.enqueue_async("c@d.e")
                total = await add.enqueue_async(1, 1)
                assert (await mail.result(10))["to"] == "c@d.e"
                assert await stop_process(only_emails, signal.SIGINT) == 0
            assert (await client.get_job(total.id))["status"] == "ready"  # not its type
        finally:
            typed_tasks.app.use(None)
    assert emailed.subject == "(none)" and emailed.thread != "MainThread"
    log = (tmp_path / "worker-0.log").read_text()
    assert "Traceback" not in log


async def test_worker_command_mistakes_are_one_line(live_server, tmp_path):
    results = await asyncio.gather(
        cli(live_server, "worker", "tests.workers.typed_tasks", "--type", "nope"),
        cli(live_server, "worker", "tests.acceptance.test_cli"),
        cli(live_server, "worker", "tests.workers.typed_tasks:add"),
    )
    assert_one_error_line(results[0], "no task 'nope'", "emails.send")
    assert_one_error_line(results[1], "has no tasks")
    assert_one_error_line(results[2], "--type")
