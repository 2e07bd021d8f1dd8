"""``livejobs watch`` draws one refresh from a state: render it into a recording console."""

from __future__ import annotations

from rich.console import Console

from livejobs.cli.watch_view import WatchState, duration, error_message, render

NOW = 1_800_000_000.0


def job(job_id: str, job_type: str, status: str, **fields: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "id": job_id,
        "type": job_type,
        "status": status,
        "attempts": 1,
        "lease": None,
        "progress": {"completed": 0, "total": 0, "percent": 0.0},
        "started": None,
        "finished": None,
        "failures": [],
        "reason": None,
    }
    doc.update(fields)
    return doc


def screen(state: WatchState, width: int = 100) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(render(state, NOW))
    return console.export_text()


def test_one_refresh_shows_counts_running_jobs_and_failures():
    running = job(
        "a" * 32,
        "resize",
        "running",
        started=NOW - 75,
        lease={"worker": "w-7", "token": "t", "expires": NOW + 30},
        progress={"completed": 3, "total": 4, "percent": 75.0},
    )
    pulsing = job(
        "b" * 32,
        "email",
        "running",
        started=NOW - 2.5,
        lease={"worker": "w-8", "token": "t", "expires": NOW + 30},
    )
    failed = job(
        "c" * 32,
        "email",
        "failed",
        finished=NOW - 10,
        attempts=3,
        reason="boom",
        failures=[
            {
                "time": NOW - 10,
                "attempt": 3,
                "worker": "w-8",
                "error": {"message": "SMTP said no\nTraceback...", "type": "E"},
            }
        ],
    )
    state = WatchState(
        url="http://127.0.0.1:8000",
        counts={"ready": 12, "running": 2, "completed": 40, "failed": 1},
        running={d["id"]: d for d in (running, pulsing)},  # type: ignore[misc]
        failures={failed["id"]: failed},  # type: ignore[dict-item]
    )
    text = screen(state)
    lines = text.splitlines()
    assert "livejobs http://127.0.0.1:8000" in lines[0]
    header = next(line for line in lines if "waiting" in line)
    values = lines[lines.index(header) + 2].split()
    assert header.split() == [
        "waiting",
        "ready",
        "running",
        "paused",
        "completed",
        "failed",
        "cancelled",
        "total",
    ]
    assert values == ["0", "12", "2", "0", "40", "1", "0", "55"]
    assert "running (2)" in text
    resize = next(line for line in lines if "aaaaaaaaaaaa" in line)
    assert "resize" in resize and "w-7" in resize and "1m15s" in resize
    assert resize.rstrip().endswith("75") and "━" in resize
    email = next(line for line in lines if "bbbbbbbbbbbb" in line)
    assert "2.5s" in email and email.rstrip().endswith("-")  # no total: a pulse, no percent
    assert "recent failures" in text
    failure = next(line for line in lines if "cccccccccccc" in line)
    assert "SMTP said no" in failure and "Traceback" not in failure and " 3 " in failure


def test_an_idle_server_and_a_note():
    state = WatchState(url="ws://h/ws", job_type="email", note="reconnecting…")
    text = screen(state, width=80)
    assert "type=email" in text.splitlines()[0]
    assert "reconnecting…" in text
    assert "no running jobs" in text and "recent failures" not in text


def test_many_running_jobs_are_cut_short():
    running = {f"{i:032x}": job(f"{i:032x}", "t", "running", started=NOW) for i in range(25)}
    text = screen(WatchState(url="u", running=running))  # type: ignore[arg-type]
    assert "running (25)" in text and "… and 5 more" in text


def test_helpers():
    assert duration(0.04) == "0.0s" and duration(61) == "1m01s"
    assert duration(3 * 3600 + 120) == "3h02m"
    assert error_message({"error": "plain text\nsecond line"}) == "plain text"
    assert error_message({"error": {"type": "KeyError"}}) == "KeyError"
    assert error_message(None, "worker lost") == "worker lost"
