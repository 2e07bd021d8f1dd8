"""A cron expression's fire times in a time zone, across daylight-saving changes (pure).

croniter is given wall-clock (naive) times only; what a wall-clock time means on the day the
clocks change is decided here, as cron does it:

- a cron that fires in every hour (``0 * * * *``, ``*/15 * * * *``) follows elapsed time: in
  autumn it fires in both passes of the repeated hour, and the hour skipped in spring, which
  does not exist, is not run;
- any other cron names times of day (``30 2 * * *``): a time repeated in autumn runs once, in
  its first pass, and a time skipped in spring runs once, at the end of the gap.

Each answer depends only on the time asked about, never on when the previous run finished.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter

#: how far around a time the zone's offsets are looked at (covers any daylight-saving shift)
OFFSET_HORIZON = 86_400.0


def next_fire(cron: str, zone: ZoneInfo, after: float) -> float:
    """The first fire time of ``cron`` in ``zone`` strictly later than ``after`` (epoch s).

    Raises croniter's ``CroniterError`` when no date after ``after`` matches the expression."""
    offsets = [_offset(zone, after), _offset(zone, after + OFFSET_HORIZON)]
    low, high = min(offsets), max(offsets)
    every_hour = croniter(cron).expanded[1] == ["*"]
    walls = croniter(cron, _wall(after + low)).all_next(datetime)
    best: float | None = None
    try:
        for wall in walls:
            if best is not None and _seconds(wall) - high > best:
                return best  # every later wall time is a later instant
            for instant in _instants(wall, zone, every_hour=every_hour):
                if instant > after and (best is None or instant < best):
                    best = instant
    except CroniterError:
        if best is None:
            raise
        return best  # the expression's last date (``0 0 1 1 * 0 2027``)
    raise AssertionError("unreachable: croniter's iteration ends only by raising")


def _wall(seconds: float) -> datetime:
    """A naive wall-clock time from seconds counted as if the zone were UTC."""
    return datetime(1970, 1, 1) + timedelta(seconds=seconds)


def _seconds(wall: datetime) -> float:
    """The inverse of ``_wall``."""
    return (wall - datetime(1970, 1, 1)).total_seconds()


def _offset(zone: ZoneInfo, instant: float) -> float:
    offset = datetime.fromtimestamp(instant, zone).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def _instants(wall: datetime, zone: ZoneInfo, *, every_hour: bool) -> Iterator[float]:
    """The instants at which the wall-clock time ``wall`` runs (see the module's rules)."""
    first = wall.replace(tzinfo=zone, fold=0).timestamp()
    second = wall.replace(tzinfo=zone, fold=1).timestamp()
    if first == second:
        yield first
    elif _shows(first, zone, wall) and _shows(second, zone, wall):  # repeated in autumn
        yield first
        if every_hour:
            yield second
    elif not every_hour:  # skipped in spring: at the end of the gap
        yield _change(zone, min(first, second), max(first, second))


def _shows(instant: float, zone: ZoneInfo, wall: datetime) -> bool:
    return datetime.fromtimestamp(instant, zone).replace(tzinfo=None) == wall


def _change(zone: ZoneInfo, before: float, after: float) -> float:
    """The instant in ``(before, after]`` at which the zone's offset changes (bisected)."""
    offset = _offset(zone, before)
    while after - before > 1e-3:
        middle = (before + after) / 2
        if _offset(zone, middle) == offset:
            before = middle
        else:
            after = middle
    return float(round(after))
