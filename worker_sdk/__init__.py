"""livejobs worker SDK: a client of the public protocol only (it imports nothing from server/).

>>> from worker_sdk import Client
>>> async with Client("ws://127.0.0.1:8000/ws", token=TOKEN) as client:
...     result = await client.run("echo", {"q": 2}, timeout=10)

Synchronous code (any thread, no event loop) uses ``SyncClient``, with the same methods:

>>> client = SyncClient("ws://127.0.0.1:8000/ws", token=TOKEN)
>>> client.run("echo", {"q": 2}, timeout=10)
"""

from livejobs_sdk.client import Client
from livejobs_sdk.errors import (
    CallError,
    ConnectionLost,
    Fatal,
    JobFailed,
    LivejobsError,
    Snooze,
    UnsupportedVersion,
)
from livejobs_sdk.job import Job, WorkerJob
from livejobs_sdk.joblog import JobContext, JobLogHandler, current_job
from livejobs_sdk.names import (
    BACKOFF,
    BACKOFFS,
    FINISHED,
    LOG_LEVEL,
    LOG_LEVELS,
    PRIORITIES,
    PRIORITY,
    STATUS,
    STATUSES,
    UNFINISHED,
)
from livejobs_sdk.subscription import Event, Subscription
from livejobs_sdk.sync import SyncClient
from livejobs_sdk.sync_jobs import SyncJob, SyncSubscription, SyncWorker, SyncWorkerJob
from livejobs_sdk.tasks import InvalidArguments, Task, Tasks
from livejobs_sdk.worker import Worker

__all__ = [
    "BACKOFF",
    "BACKOFFS",
    "FINISHED",
    "LOG_LEVEL",
    "LOG_LEVELS",
    "PRIORITIES",
    "PRIORITY",
    "STATUS",
    "STATUSES",
    "UNFINISHED",
    "CallError",
    "Client",
    "ConnectionLost",
    "Event",
    "Fatal",
    "InvalidArguments",
    "Job",
    "JobContext",
    "JobLogHandler",
    "JobFailed",
    "LivejobsError",
    "Snooze",
    "Subscription",
    "SyncClient",
    "SyncJob",
    "SyncSubscription",
    "SyncWorker",
    "SyncWorkerJob",
    "Task",
    "Tasks",
    "UnsupportedVersion",
    "Worker",
    "WorkerJob",
    "current_job",
]
