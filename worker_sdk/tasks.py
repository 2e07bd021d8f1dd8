"""Typed tasks: a function (sync or async) becomes a job type with its defaults.

>>> app = Tasks("ws://127.0.0.1:8000/ws", token=TOKEN)
>>> @app.task(retries=3, priority="high", name="emails.send")
... def send_email(to: str, subject: str = "") -> bool: ...
>>> send_email.enqueue(to="a@b.c")            # a SyncJob, saved (from any thread)
>>> await send_email.enqueue_async(to="a@b.c")  # a Job, with an async Client bound (``use``)
>>> send_email.run(to="a@b.c")                # waits: the result, decoded to ``bool``

Arguments are checked and encoded with msgspec from the function's annotations (pydantic
models among them by pydantic) before anything is sent (``InvalidArguments`` otherwise), so a
bad argument is refused at the caller; the worker decodes them the same way and the caller
decodes the result to the return annotation. ``livejobs worker myapp.tasks`` serves every
task of a module. ``time_limit`` stops and fails an attempt that runs longer (the server
enforces it, as Celery's per-task ``time_limit``).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping
from types import ModuleType
from typing import Any, Generic, ParamSpec, TypeVar, overload

import msgspec

from livejobs_sdk.client import Client
from livejobs_sdk.errors import Fatal, LivejobsError
from livejobs_sdk.job import Job, WorkerJob
from livejobs_sdk.loop_thread import LoopRunner
from livejobs_sdk.sync import SyncClient
from livejobs_sdk.sync_jobs import SyncJob, SyncWorker, SyncWorkerJob
from livejobs_sdk.threads import in_thread, task_threads

P = ParamSpec("P")
R = TypeVar("R")
Builder = TypeVar("Builder", Job, SyncJob)
JOB_TYPES = (WorkerJob, SyncWorkerJob)
KEEP_STATUSES = {"completed", "failed", "cancelled"}
"""The statuses a task's ``keep=`` may count, as ``Job.keep`` takes them."""


class InvalidArguments(LivejobsError, TypeError):
    """A task was called with arguments its signature refuses; nothing was stored."""

    code = "invalid"


def ws_url(url: str) -> str:
    """``http://host:8000`` → ``ws://host:8000/ws`` (as the CLI reads ``LIVEJOBS_URL``)."""
    if url.startswith(("ws://", "wss://")):
        return url
    return url.replace("http", "ws", 1).rstrip("/") + "/ws"


def _encode_custom(obj: Any) -> Any:
    """Pydantic models as their JSON form (pydantic is never imported here, only used when the
    application did)."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(obj, pydantic.BaseModel):
        return obj.model_dump(mode="json")
    raise TypeError(f"Encoding objects of type {type(obj).__name__} is unsupported")


def _decode_custom(kind: Any, obj: Any) -> Any:
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(kind, type) and issubclass(kind, pydantic.BaseModel):
        # pydantic's ValidationError is a ValueError: msgspec adds where it happened
        return kind.model_validate(obj)  # type: ignore[attr-defined]
    if isinstance(kind, type) and isinstance(obj, kind):  # e.g. ``object``: anything goes
        return obj
    raise TypeError(f"Expected `{getattr(kind, '__name__', kind)}`, got `{type(obj).__name__}`")


def _to_json(value: Any) -> Any:
    """``value`` as JSON will carry it: a mapping's keys become strings (``{1: x}`` arrives as
    ``{"1": x}``), so the caller checks what the worker will decode, and the other way."""
    return msgspec.to_builtins(value, enc_hook=_encode_custom, str_keys=True)


def _from_json(value: Any, kind: Any) -> Any:
    """JSON's string keys back to the annotation's key type (``dict[int, str]``)."""
    return msgspec.convert(value, kind, dec_hook=_decode_custom, str_keys=True)


class Task(Generic[P, R]):
    """One function as a job type; calling the task itself runs the function here."""

    def __init__(
        self,
        app: Tasks,
        function: Callable[P, Any],
        *,
        name: str | None = None,
        retries: int = 0,
        retry_wait: float = 0.0,
        backoff: str = "constant",
        priority: int | str | None = None,
        result_timeout: float | None = None,
        time_limit: float | None = None,
        retain: float | None = None,
        keep: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.function: Callable[..., Any] = function
        self.name = name or f"{function.__module__}.{function.__qualname__}"
        self.retries, self.retry_wait, self.backoff = retries, retry_wait, backoff
        self.priority, self.time_limit = priority, time_limit
        self.retain, self.keep = retain, dict(keep or {})
        if unknown := set(self.keep) - KEEP_STATUSES:
            raise TypeError(f"task {self.name}: keep= takes {sorted(KEEP_STATUSES)}, not {unknown}")
        #: how long ``run`` waits for the result (None: until it comes)
        self.result_timeout = result_timeout
        self.is_async = inspect.iscoroutinefunction(function)
        try:
            signature = inspect.signature(function, eval_str=True)
        except NameError as exc:  # a type defined after the function, or inside a function
            raise TypeError(f"task {self.name}: cannot read its annotations: {exc}") from None
        #: a parameter annotated ``WorkerJob`` (or ``SyncWorkerJob``) gets the running job
        wants = [p for p in signature.parameters.values() if p.annotation in JOB_TYPES]
        self.job_parameter = wants[0].name if wants else None
        self._sync_job = bool(wants) and wants[0].annotation is SyncWorkerJob
        self.signature = signature.replace(
            parameters=[p for p in signature.parameters.values() if p.name != self.job_parameter]
        )
        self.arguments = _arguments_struct(self.name, self.signature)
        returns = signature.return_annotation
        self.returns: Any = Any if returns is inspect.Signature.empty else returns

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        return self.function(*args, **kwargs)

    # -- caller ----------------------------------------------------------------------------
    def encode(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The job's data: the arguments, checked against the signature (or refused)."""
        try:
            given = self.signature.bind(*args, **kwargs).arguments
            data: dict[str, Any] = _to_json(given)
            _from_json(data, self.arguments)  # the check the worker's decode repeats
        except (TypeError, msgspec.ValidationError) as exc:
            raise InvalidArguments(f"{self.name}: invalid arguments: {exc}") from None
        return data

    def _defaults(self, job: Builder) -> Builder:
        if self.retries:
            job.retry(self.retries, self.retry_wait, self.backoff)
        if self.priority is not None:
            job.priority(self.priority)
        if self.time_limit is not None:
            job.time_limit(self.time_limit)
        if self.retain is not None:
            job.retain(self.retain)
        if self.keep:
            job.keep(**self.keep)
        return job

    def job(self, *args: P.args, **kwargs: P.kwargs) -> SyncJob:
        """An unsaved job with the task's defaults, for more options: ``.delay(5).save()``."""
        data = self.encode(*args, **kwargs)
        return self._defaults(self.app.sync_client.job(self.name, data))

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> SyncJob:
        return self.job(*args, **kwargs).save()

    def run(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Enqueue and block until the result (``JobFailed`` if the job fails)."""
        job = self.enqueue(*args, **kwargs)
        return self.decode_result(job.result(self.result_timeout))

    def job_async(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        data = self.encode(*args, **kwargs)
        return self._defaults(self.app.async_client.job(self.name, data))

    async def enqueue_async(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        return await self.job_async(*args, **kwargs).save()

    async def run_async(self, *args: P.args, **kwargs: P.kwargs) -> R:
        job = await self.enqueue_async(*args, **kwargs)
        return self.decode_result(await job.result(self.result_timeout))

    def decode_result(self, result: Any) -> R:
        try:
            return _from_json(result, self.returns)  # type: ignore[no-any-return]
        except msgspec.ValidationError as exc:
            raise LivejobsError(f"{self.name}: its result does not match: {exc}") from None

    # -- worker ----------------------------------------------------------------------------
    async def handle(self, job: WorkerJob) -> Any:
        """Run the function on a job's data (a sync function in a thread); arguments that do
        not match fail the job for good, since no retry can fix them."""
        try:
            arguments = msgspec.structs.asdict(_from_json(job.data, self.arguments))
        except msgspec.ValidationError as exc:
            raise Fatal(f"{self.name}: invalid arguments: {exc}") from None
        if self.job_parameter is not None:
            arguments[self.job_parameter] = job
            if self._sync_job:
                loop = LoopRunner(asyncio.get_running_loop())
                arguments[self.job_parameter] = SyncWorkerJob(loop, job)
        if self.is_async:
            result = await self.function(**arguments)
        else:
            call = functools.partial(self.function, **arguments)
            result = await in_thread(task_threads(), contextvars.copy_context().run, call)
        return _to_json(result)

    def __repr__(self) -> str:
        return f"<Task {self.name}>"


def _arguments_struct(name: str, signature: inspect.Signature) -> type[msgspec.Struct]:
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for param in signature.parameters.values():
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise TypeError(f"task {name}: parameter {param.name!r} must be a named parameter")
        kind = Any if param.annotation is param.empty else param.annotation
        if param.default is param.empty:
            fields.append((param.name, kind))
        else:
            fields.append((param.name, kind, param.default))
    return msgspec.defstruct(f"{name}.arguments", fields, kw_only=True, forbid_unknown_fields=True)


class Tasks:
    """A set of tasks and the clients that enqueue them. ``url`` and ``token`` default to
    ``LIVEJOBS_URL`` and ``LIVEJOBS_TOKEN``; the sync client is opened on first use; an async
    client is bound with ``use`` (e.g. in an ASGI lifespan)."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        client: SyncClient | None = None,
        async_client: Client | None = None,
    ) -> None:
        self.url = url or os.environ.get("LIVEJOBS_URL")
        self.token = token or os.environ.get("LIVEJOBS_TOKEN")
        self.tasks: dict[str, Task[Any, Any]] = {}
        self._sync = client
        self._async = async_client
        self._lock = threading.Lock()

    @overload
    def task(self, function: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        /,
        *,
        name: str | None = None,
        retries: int = 0,
        retry_wait: float = 0.0,
        backoff: str = "constant",
        priority: int | str | None = None,
        result_timeout: float | None = None,
        time_limit: float | None = None,
        retain: float | None = None,
        keep: Mapping[str, int] | None = None,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(
        self,
        function: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        retries: int = 0,
        retry_wait: float = 0.0,
        backoff: str = "constant",
        priority: int | str | None = None,
        result_timeout: float | None = None,
        time_limit: float | None = None,
        retain: float | None = None,
        keep: Mapping[str, int] | None = None,
    ) -> Any:
        """``@app.task`` or ``@app.task(name=..., retries=..., priority=..., time_limit=...)``;
        ``retain`` (seconds) and ``keep`` (``{"completed": 100}``) as a job builder's
        ``.retain()`` and ``.keep()`` set them."""
        options: dict[str, Any] = {
            "name": name,
            "retries": retries,
            "retry_wait": retry_wait,
            "backoff": backoff,
            "priority": priority,
            "result_timeout": result_timeout,
            "time_limit": time_limit,
            "retain": retain,
            "keep": keep,
        }

        def register(function: Callable[..., Any]) -> Task[Any, Any]:
            task: Task[Any, Any] = Task(self, function, **options)
            if task.name in self.tasks:
                raise ValueError(f"two tasks are named {task.name!r}")
            self.tasks[task.name] = task
            return task

        return register if function is None else register(function)

    @property
    def sync_client(self) -> SyncClient:
        with self._lock:
            if self._sync is None:
                if not self.url:
                    raise LivejobsError("no server: give Tasks(url) or set LIVEJOBS_URL")
                self._sync = SyncClient(ws_url(self.url), self.token)
            return self._sync

    @property
    def async_client(self) -> Client:
        if self._async is None:
            raise LivejobsError("no async client: bind one with tasks.use(client)")
        return self._async

    def use(self, client: Client | SyncClient | None) -> None:
        """Enqueue through ``client`` (async: ``*_async`` calls; sync: the others)."""
        if isinstance(client, SyncClient):
            self._sync = client
        else:
            self._async = client

    def worker(self, *, concurrency: int = 1, worker_id: str | None = None) -> SyncWorker:
        """A worker (on the sync client) serving every task of this set: ``start()`` it, or
        ``run()`` it; ``livejobs worker MODULE`` does the same as a process."""
        return self.sync_client.worker(
            list(self.tasks), dispatch(self.tasks), concurrency=concurrency, worker_id=worker_id
        )

    def close(self) -> None:
        """Close the sync client this set opened (it also closes at interpreter exit)."""
        if self._sync is not None:
            self._sync.close()


def find_tasks(module: ModuleType) -> dict[str, Task[Any, Any]]:
    """Every task defined (or imported) at the top level of ``module``, by job type."""
    found = [value for value in vars(module).values() if isinstance(value, Task)]
    return {task.name: task for task in found}


def dispatch(tasks: dict[str, Task[Any, Any]]) -> Callable[[WorkerJob], Awaitable[Any]]:
    """One handler for a worker serving several tasks: each job goes to its type's task."""

    async def handle(job: WorkerJob) -> Any:
        task = tasks.get(job.type)
        if task is None:
            raise Fatal(f"no task for type {job.type!r}")
        return await task.handle(job)

    return handle
