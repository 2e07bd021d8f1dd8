"""The server's text log: one record is one line, whatever a client put in the names it logs
(a worker id, a job type), and no escape sequence of a client's reaches the operator's terminal."""

from __future__ import annotations

import logging

from livejobs.logs import TextFormatter, context

FORGED = "w1\n2026-12-07 06:00:00,000 INFO livejobs.auth: admin signed in\x1b[2J\x9b31m"


def _record(message: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError(f"bad data {FORGED}")
        except ValueError as error:
            exc_info = (ValueError, error, error.__traceback__)
    record = logging.LogRecord(
        "livejobs.dispatch", logging.WARNING, __file__, 1, message, args, exc_info
    )
    record.__dict__.update(extra)
    return record


def test_a_clients_names_cannot_forge_a_line_or_reach_the_terminal() -> None:
    line = TextFormatter().format(
        _record("worker %s let a lease expire", FORGED, **context(worker=FORGED, type="\x1b]8;;x"))
    )
    assert "\n" not in line and "\x1b" not in line and "\x9b" not in line
    assert "worker w1\\x0a2026-12-07" in line and "type=\\x1b]8;;x" in line


def test_a_traceback_keeps_its_lines_but_not_a_clients_escapes() -> None:
    text = TextFormatter().format(_record("handler failed", exc=True))
    assert text.count("\n") >= 3  # the message, the traceback's lines
    assert "\x1b" not in text and "\x9b" not in text
    assert "bad data w1\\x0a2026" not in text  # a traceback keeps newlines: it is read as text
    assert "[2J" in text
