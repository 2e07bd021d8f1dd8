"""The livejobs side of each migration guide runs as written: the block under
``<!-- runnable -->`` served by ``livejobs worker MODULE`` and run as a script."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import pytest

from tests.acceptance.test_cli import env_for, stop_process, worker_process
from tests.servers import ROOT

RUNNABLE = re.compile(r"<!-- runnable -->\n```python\n# (\w+)\.py\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize(
    ("guide", "printed"),
    [
        (
            "migrating-from-celery.md",
            "{'path': 'a.png', 'width': 400}\n{'path': 'c.png', 'width': 800}\n",
        ),
        ("migrating-from-rq.md", "['c', 'b']\n['y', 'x']\n"),
        (
            "migrating-from-bullmq.md",
            "{'path': 'a.png', 'width': 400}\n"
            "[{'path': 'c.png', 'width': 800}, {'path': 'd.png', 'width': 200}]\n",
        ),
    ],
)
async def test_the_guides_livejobs_example_runs_as_written(live_server, tmp_path, guide, printed):
    found = RUNNABLE.search((ROOT / "docs" / guide).read_text())
    assert found, f"{guide} has no runnable block"
    module, code = found.groups()
    (tmp_path / f"{module}.py").write_text(code)
    async with worker_process(live_server, tmp_path, module) as worker:
        script = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, f"{module}.py"],
            cwd=tmp_path,
            env=env_for(live_server),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert await stop_process(worker) == 0
    assert script.returncode == 0 and script.stderr == "", script.stderr
    assert script.stdout == printed
