"""Text written by clients (a job's type, a worker id, an error message) as a terminal or a log
file may show it: every control character written as its escape (``\\x1b``), so that it can
neither rewrite the reader's terminal (``ESC [2J``, an OSC link, a C1 ``CSI``) nor forge a line
of its own (a newline in a worker id). The CLI (``livejobs.cli.safe_text``) and the server's
text log (``livejobs.logs``) show such text through ``shown``.
"""

from __future__ import annotations

import re
from typing import Any

#: C0 controls, DEL, C1 controls, and the bidirectional marks and overrides that make a line
#: read differently from what it holds; newline and tab are told apart by ``_ANY_BREAK``
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ANY_BREAK = re.compile("[\t\n]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(value: Any, *, lines: bool = False) -> str:
    """``value`` as text without control characters; newlines and tabs stay only with
    ``lines`` (a log message, a traceback), so a table cell or an error stays one line."""
    text = CONTROL.sub(_escape, str(value))
    return text if lines else _ANY_BREAK.sub(_escape, text)
