"""Frames shared by every live member of a subscription group.

A change that matches a group becomes, for each member, the same frame but for its sub id:
``head + sub_json + tail``. The group gathers its changes into one ``Run`` while the flusher
waits, queues the run once per member (a ``RunView``), and each member's writer renders it with
one ``sub_json.join(segments)``, so fan-out costs per subscriber per flush, not per change
(docs/performance.md, "Shared runs for subscription groups").

A run is sealed (no more frames) at the next flush, when it is full, or when the group's
membership changes, so that every member of a run gets exactly the changes made while it was a
member. Writers leave a run that is still gathering in the outbox until its flush (a closing
session's writer seals it), so each run is written once, whole.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

#: at most this many frames in one run (it is sent as one message, like a batch of frames)
MAX_RUN = 500


class Run:
    """Frames gathered for a group between two flushes; rendered per member once sealed."""

    __slots__ = ("_pairs", "_segments", "_on_seal", "_chars", "_encoded", "_encoded_bytes")

    def __init__(self, on_seal: Callable[[Run], None]) -> None:
        self._pairs: list[tuple[str, str]] = []
        self._segments: list[str] | None = None
        self._on_seal = on_seal
        #: characters of every frame but the sub ids, known once sealed
        self._chars = 0
        #: the segments as bytes (``encoded``), made for the first member asking
        self._encoded: list[bytes] | None = None
        self._encoded_bytes = 0

    def __len__(self) -> int:
        return len(self._pairs)

    @property
    def sealed(self) -> bool:
        return self._segments is not None

    def add(self, head: str, tail: str) -> None:
        """One more frame, ``head + sub_json + tail``; a full run seals itself."""
        assert self._segments is None, "a sealed run takes no more frames"
        self._pairs.append((head, tail))
        if len(self._pairs) >= MAX_RUN:
            self.seal()

    def seal(self) -> None:
        """Freeze the frames and build the segments every member's rendering shares:
        ``[head1, tail1 + "," + head2, ..., tailN]``, so that joining them with a sub id gives
        the run's frames separated by commas. Idempotent."""
        if self._segments is not None:
            return
        pairs = self._pairs
        segments = [pairs[0][0]] if pairs else []
        segments.extend(f"{tail},{head}" for (_, tail), (head, _) in pairwise(pairs))
        if pairs:
            segments.append(pairs[-1][1])
        self._chars = sum(map(len, segments)) - max(len(pairs) - 1, 0)  # less the commas
        self._segments = segments
        self._on_seal(self)

    def size(self, sub_chars: int) -> int:
        """Characters of the run's frames for a member whose sub id has ``sub_chars``: what
        its outbox counts toward the byte cap (computed once per run, not per member)."""
        return self._chars + len(self._pairs) * sub_chars

    def render(self, sub_json: str) -> str:
        """Every frame of the run for one member, comma-separated (an array's inside)."""
        self.seal()
        assert self._segments is not None
        return sub_json.join(self._segments)

    def encoded(self) -> tuple[list[bytes], int]:
        """The segments as UTF-8, encoded once for every member (what the edge writes), and
        their length in bytes: a member's frames are ``sub_bytes.join(segments)``."""
        self.seal()
        if self._encoded is None:
            assert self._segments is not None
            self._encoded = [segment.encode() for segment in self._segments]
            self._encoded_bytes = sum(map(len, self._encoded))
        return self._encoded, self._encoded_bytes

    def frames(self, sub_json: str) -> list[str]:
        """The frames one by one, for a client that takes one frame per message."""
        self.seal()
        return [f"{head}{sub_json}{tail}" for head, tail in self._pairs]


class RunView:
    """One member's place in its outbox for a shared run."""

    __slots__ = ("run", "sub_json")

    def __init__(self, run: Run, sub_json: str) -> None:
        self.run = run
        self.sub_json = sub_json

    def __len__(self) -> int:
        return len(self.run)

    def render(self) -> str:
        return self.run.render(self.sub_json)

    def frames(self) -> list[str]:
        return self.run.frames(self.sub_json)
