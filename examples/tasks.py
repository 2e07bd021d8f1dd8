"""The application's tasks, shared by the web apps (which enqueue them) and the worker:

livejobs worker examples.tasks     # with LIVEJOBS_URL and LIVEJOBS_TOKEN set
"""

from __future__ import annotations

import time

from livejobs_sdk import SyncWorkerJob, Tasks

tasks = Tasks()  # LIVEJOBS_URL / LIVEJOBS_TOKEN; the web apps bind their client with use()


@tasks.task(name="emails.welcome", retries=3, priority="high")
def send_welcome(email: str, name: str = "there") -> str:
    """A plain function: the worker runs it in a thread, so blocking I/O is fine here."""
    return f"Hello {name}, welcome! (sent to {email})"


@tasks.task(name="reports.build")
def build_report(pages: int, job: SyncWorkerJob) -> dict[str, int]:
    """Reports progress as it goes: the FastAPI app streams it to the browser."""
    for page in range(pages):
        time.sleep(0.05)  # the work of one page
        job.progress(page + 1, pages)
    return {"pages": pages}
