"""Untrusted text as the terminal may show it: the one place the CLI makes a job's strings safe.

A job's type, data, log, error, worker id and the like are written by any client. Printed as
they are, rich would read ``[link=...]`` in them as markup, and the terminal would obey the
control characters in them (``ESC [2J`` clears the screen, ``ESC ]8;;`` makes a link, ``\\r``
writes over the line, a one-byte C1 ``CSI`` does what ``ESC [`` does). So every such string is
shown through ``plain`` (a rich ``Text``: never markup) or ``shown`` (every control character
written as its escape, ``\\x1b``), and what it said stays readable.
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

#: C0 controls, DEL, C1 controls, and the bidirectional marks and overrides that make a line
#: read differently from what it holds; newline and tab are told apart by ``_ANY_BREAK``
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ANY_BREAK = re.compile("[\t\n]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(value: Any, *, lines: bool = False) -> str:
    """``value`` as text without control characters; newlines and tabs stay only with
    ``lines`` (a log message, a traceback), so a table cell or an error stays one line."""
    text = _CONTROL.sub(_escape, str(value))
    return text if lines else _ANY_BREAK.sub(_escape, text)


def plain(value: Any, style: str = "", *, lines: bool = False) -> Text:
    """``value`` for rich: literal text (never markup), without control characters."""
    return Text(shown(value, lines=lines), style=style)


def json_shown(text: str) -> str:
    """JSON text with every control character inside its strings as a ``\\u`` escape: the same
    JSON, but the C1 and bidirectional ones ``json.dumps(ensure_ascii=False)`` keeps reach no
    terminal (outside strings JSON has only ASCII, so only strings change)."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
