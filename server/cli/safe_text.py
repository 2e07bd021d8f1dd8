"""Untrusted text as the terminal may show it: the one place the CLI makes a job's strings safe.

A job's type, data, log, error, worker id and the like are written by any client. Printed as
they are, rich would read ``[link=...]`` in them as markup, and the terminal would obey the
control characters in them (``ESC [2J`` clears the screen, ``ESC ]8;;`` makes a link, ``\\r``
writes over the line, a one-byte C1 ``CSI`` does what ``ESC [`` does). So every such string is
shown through ``plain`` (a rich ``Text``: never markup) or ``shown`` (every control character
written as its escape, ``\\x1b``), and what it said stays readable.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from livejobs.untrusted import CONTROL, shown

__all__ = ["json_shown", "plain", "shown"]


def plain(value: Any, style: str = "", *, lines: bool = False) -> Text:
    """``value`` for rich: literal text (never markup), without control characters."""
    return Text(shown(value, lines=lines), style=style)


def json_shown(text: str) -> str:
    """JSON text with every control character inside its strings as a ``\\u`` escape: the same
    JSON, but the C1 and bidirectional ones ``json.dumps(ensure_ascii=False)`` keeps reach no
    terminal (outside strings JSON has only ASCII, so only strings change)."""
    return CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
