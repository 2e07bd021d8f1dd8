"""``manage.py livejobs_worker``: serve the project's typed tasks inside Django (settings and
apps loaded, so tasks may use the ORM). SIGTERM or Ctrl-C: running jobs finish, then exit."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from examples.tasks import tasks


class Command(BaseCommand):
    help = "Run a livejobs worker for the tasks of examples.tasks"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--concurrency", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        worker = tasks.worker(concurrency=options["concurrency"])
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: worker.stop())  # graceful: run() returns after
        self.stdout.write(f"serving {', '.join(tasks.tasks)}")
        self.stdout.flush()
        worker.run()
        self.stdout.write("stopped")
