"""``livejobs worker MODULE:FUNCTION`` (a handler) or ``livejobs worker MODULE`` (every typed
task of a module, see worker_sdk/tasks.py) as a worker process, as ``rq worker`` or ``celery
worker`` do, stopping without losing the job in its hands."""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import inspect
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Annotated, Any

import typer

from livejobs.cli.client import TOKEN, URL, Failure, run
from livejobs.cli.common import fail
from livejobs.cli.processes import ProcessSlots
from livejobs.cli.safe_text import shown
from livejobs.failures import describe_exception, render_failure
from livejobs.logs import context
from livejobs.settings import Settings, SettingsError
from livejobs_sdk import Client, WorkerJob
from livejobs_sdk.tasks import dispatch, find_tasks
from livejobs_sdk.threads import in_thread, task_threads

log = logging.getLogger("livejobs.cli")


def _import(module_name: str) -> ModuleType:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like rq and celery: modules next to you import
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise Failure(f"cannot import {module_name}: {exc}") from None
    except Exception as exc:
        raise Failure(f"importing {module_name} failed: {type(exc).__name__}: {exc}") from None


def load_tasks(
    module_name: str, types: list[str] | None
) -> tuple[Callable[[WorkerJob], Awaitable[Any]], list[str]]:
    """``package.module`` → one handler for its typed tasks, and their job types (those of
    ``types`` only, when given)."""
    tasks = find_tasks(_import(module_name))
    if not tasks:
        raise Failure(
            f"{module_name} has no tasks (functions decorated with @tasks.task);"
            " to run one function as a handler give MODULE:FUNCTION --type TYPE"
        )
    unknown = sorted(set(types or []) - set(tasks))
    if unknown:
        raise Failure(f"{module_name} has no task {unknown[0]!r}; it has {', '.join(tasks)}")
    chosen = {name: task for name, task in tasks.items() if not types or name in types}
    return dispatch(chosen), list(chosen)


def load_handler(target: str) -> Callable[[WorkerJob], Awaitable[Any]]:
    """``package.module:function`` → an async handler (a plain function runs in a thread)."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise Failure(f"{target!r} should read MODULE:FUNCTION, e.g. myapp.tasks:send_email")
    module = _import(module_name)
    function = getattr(module, attr, None)
    if not callable(function):
        raise Failure(f"{module_name} has no function {attr!r}")
    if inspect.iscoroutinefunction(function):
        return function  # type: ignore[no-any-return]

    async def threaded(job: WorkerJob) -> Any:
        # the typed tasks' pool (a thread per slot, not asyncio's cores plus four), and a
        # cancelled run holds its slot until its thread returns
        context = contextvars.copy_context()  # the job's log context, as asyncio.to_thread
        result = await in_thread(task_threads(), context.run, function, job)
        return await result if inspect.isawaitable(result) else result

    return threaded


def load_any(target: str, types: tuple[str, ...]) -> Callable[[WorkerJob], Awaitable[Any]]:
    """A handler as ``worker`` loads it, in a child of ``--processes``."""
    return load_handler(target) if ":" in target else load_tasks(target, [*types])[0]


def worker(
    target: Annotated[str, typer.Argument(metavar="MODULE[:FUNCTION]")],
    types: Annotated[
        list[str] | None,
        typer.Option("--type", help="job type to take (repeatable; for MODULE: its tasks')"),
    ] = None,
    concurrency: int = typer.Option(1, "--concurrency", min=1, help="jobs at once"),
    processes: int = typer.Option(
        0,
        "--processes",
        min=0,
        help="run each job in a child process, this many at once (implies --concurrency)",
    ),
    payload: int = typer.Option(
        1,
        "--payload",
        min=1,
        help="hand MODULE:FUNCTION a list of up to this many jobs at a time (cargo mode)",
    ),
    worker_id: str = typer.Option(None, "--worker-id", help="a stable name for this worker"),
    grace: float = typer.Option(
        30.0,
        "--grace",
        min=0,
        help="on SIGTERM, seconds to finish running jobs before handing them back",
    ),
    log_level: str = typer.Option(None, "--log-level", help="debug, info (default), warning"),
    log_format: str = typer.Option(None, "--log-format", help="text (default) or json"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Run a handler (MODULE:FUNCTION, with --type) or a MODULE's tasks on pushed jobs.

    MODULE serves every function of it decorated with @tasks.task.
    With --payload N the function gets a list of up to N jobs and returns
    a list of their results (or a dict by job id), as the SDK's payload=N.

    SIGTERM: take no more jobs, let running ones finish (at most --grace
    seconds), hand back the rest, exit 0. SIGINT (Ctrl-C): hand running
    jobs back at once, exit 0.
    """
    _setup_logging(log_level, log_format)
    if payload > 1 and (":" not in target or processes):
        fail("--payload takes MODULE:FUNCTION without --processes: the function gets a list")
    try:
        handler, types = _load(target, types)
    except Failure as exc:
        fail(str(exc))
    if processes:  # loaded above too, so that a bad target fails here, not in every child
        handler, concurrency = (
            ProcessSlots(load_any, target, list(types or []), processes),
            processes,
        )
    run(
        url,
        token,
        lambda c: _work(c, handler, types, concurrency, worker_id, grace, payload),
        reconnect=True,
    )


def _setup_logging(log_level: str | None, log_format: str | None) -> None:
    """The same settings, validated the same way, as the server's (env LIVEJOBS_LOG_*)."""
    from livejobs.logs import setup_logging

    try:
        settings = Settings.load({"log_level": log_level, "log_format": log_format})
    except SettingsError as exc:
        fail(str(exc), 2)
    setup_logging(settings.log_level, settings.log_format)


def _load(
    target: str, types: list[str] | None
) -> tuple[Callable[[WorkerJob], Awaitable[Any]], list[str]]:
    """The handler of ``target`` and the job types it takes."""
    if ":" not in target:
        return load_tasks(target, types)
    if not types:
        raise Failure(f"give the job types {target} takes: --type TYPE (repeatable)")
    return load_handler(target), types


async def _work(
    client: Client,
    handler: Callable[[Any], Awaitable[Any]],
    types: list[str],
    concurrency: int,
    worker_id: str | None,
    grace: float,
    payload: int = 1,
) -> None:
    each = _logged(handler, payload, lambda: work.worker_id)
    work = client.worker(types, each, concurrency=concurrency, worker_id=worker_id, payload=payload)
    task = asyncio.create_task(work.run())
    loop = asyncio.get_running_loop()
    stopping = False

    def hand_back() -> None:
        if not task.done():
            log.info("handing back %d running jobs", len(work.running))
            task.cancel()

    def finish() -> None:
        nonlocal stopping
        if stopping:
            return hand_back()
        stopping = True
        log.info("finishing %d running jobs (at most %gs), then exiting", len(work.running), grace)
        work.stop()
        loop.call_later(grace, hand_back)

    loop.add_signal_handler(signal.SIGTERM, finish)
    loop.add_signal_handler(signal.SIGINT, hand_back)
    try:
        await asyncio.wait([task])
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        loop.remove_signal_handler(signal.SIGINT)
        if isinstance(handler, ProcessSlots):
            handler.close()
    if not task.cancelled():
        task.result()  # a refused worker.start (e.g. forbidden) becomes the error line
    log.info("worker %s stopped", work.worker_id)


def _logged(
    handler: Callable[[Any], Awaitable[Any]], payload: int, worker: Callable[[], str | None]
) -> Callable[[Any], Awaitable[Any]]:
    """``handler`` logging each job (or, with ``payload`` over 1, each list of jobs) it runs."""

    async def logged(job: WorkerJob) -> Any:
        about = context(job_id=job.id, type=job.type, worker=worker())
        log.info("job %s (%s) started, attempt %d", job.id, job.type, job.attempt, extra=about)
        try:
            result = await handler(job)
        except asyncio.CancelledError:
            log.info("job %s stopped", job.id, extra=about)
            raise
        except Exception as exc:
            # what the SDK stores in the job, rendered as `livejobs jobs show` prints it; its
            # text may quote the job's data, so no control character reaches the terminal
            failure = shown(render_failure(describe_exception(exc)), lines=True)
            why = shown(exc)
            log.warning("job %s (%s) failed: %s\n%s", job.id, job.type, why, failure, extra=about)
            raise
        log.info("job %s done", job.id, extra=about)
        return result

    async def logged_cargo(jobs: list[WorkerJob]) -> Any:
        about = context(worker=worker())
        ids = ", ".join(job.id for job in jobs)
        log.info("%d jobs started: %s", len(jobs), ids, extra=about)
        try:
            results = await handler(jobs)
        except asyncio.CancelledError:
            log.info("jobs %s stopped", ids, extra=about)
            raise
        except Exception as exc:
            failure = shown(render_failure(describe_exception(exc)), lines=True)
            log.warning("jobs %s failed: %s\n%s", ids, shown(exc), failure, extra=about)
            raise
        log.info("%d jobs done", len(jobs), extra=about)
        return results

    return logged if payload == 1 else logged_cargo
