"""When a repeating job runs next: a fixed interval, or a cron expression in a time zone."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from livejobs.errors import Invalid
from livejobs.jobs import cron_zone

#: cron fire times looked at for the floor: enough to see the shortest gap of any cron with a
#: handful of listed values per field, and cheap (one create with a repeat pays for it once)
FIRES_CHECKED = 16


def validate(repeat: dict[str, Any], *, now: float = 0.0, min_seconds: float = 0.0) -> None:
    """Raise ``Invalid`` for a repeat spec that could never produce a next time, or that would
    run more often than once per ``min_seconds``, saying which."""
    every, cron = repeat.get("every"), repeat.get("cron")
    if (every is None) == (cron is None):
        raise Invalid("repeat needs exactly one of 'every' (seconds) or 'cron'")
    if every is not None and (not isinstance(every, int | float) or every <= 0):
        raise Invalid("repeat 'every' must be a positive number of seconds")
    if every is not None and every < min_seconds:
        raise Invalid(
            f"repeat 'every' is {every:g}s; jobs repeat at most once per {min_seconds:g}s"
        )
    if repeat.get("fixed") and every is None:
        raise Invalid("repeat 'fixed' is for 'every': a cron's steps are fixed already")
    if cron is not None and (not isinstance(cron, str) or not croniter.is_valid(cron)):
        raise Invalid(f"repeat 'cron' is not a valid cron expression: {cron!r}")
    zone = _zone(repeat.get("tz"))
    times = repeat.get("times")
    if times is not None and (not isinstance(times, int) or times < 1):
        raise Invalid("repeat 'times' must be a positive integer")
    if cron is not None:
        _check_cron(cron, zone, now, min_seconds)


def _check_cron(cron: str, zone: ZoneInfo, now: float, min_seconds: float) -> None:
    """A cron that matches no date (``0 0 31 2 *``) would leave its job and its dependants
    waiting forever; one that fires faster than the floor would flood the store. The fires
    looked at are the ones the job would get, daylight-saving changes included."""
    fires: list[float] = []
    try:
        for _ in range(FIRES_CHECKED):
            fires.append(cron_zone.next_fire(cron, zone, fires[-1] if fires else now))
    except CroniterError:
        if not fires:
            raise Invalid(f"repeat 'cron' {cron!r} never fires: no date matches it") from None
    gaps = [b - a for a, b in zip(fires, fires[1:], strict=False)]
    if gaps and min(gaps) < min_seconds:
        raise Invalid(
            f"repeat 'cron' {cron!r} fires every {min(gaps):g}s; "
            f"jobs repeat at most once per {min_seconds:g}s"
        )


def _zone(name: str | None) -> ZoneInfo:
    """The zone named, or ``Invalid``: a name is looked up as a file of the zone database, so a
    folder (``Europe``) or an unreadable file fails as ``OSError``, not as a missing zone."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise Invalid(f"unknown time zone {name!r}") from None


def next_time(repeat: dict[str, Any], *, after: float) -> float:
    """The first run time strictly later than ``after`` (epoch seconds).

    Cron times are computed in the repeat's zone, so "0 9 * * *" in Europe/Paris stays at 09:00
    local across daylight-saving changes; a time skipped in spring runs at the end of the gap,
    a time repeated in autumn runs once, and a cron firing every hour keeps firing every real
    hour (see ``cron_zone``).
    """
    if repeat.get("every") is not None:
        return after + float(repeat["every"])
    return cron_zone.next_fire(repeat["cron"], _zone(repeat.get("tz")), after)


def following_time(repeat: dict[str, Any], *, after: float) -> float | None:
    """Like ``next_time``, or None when the cron has no later date (a year field that has
    passed): the schedule ends there, as when its ``times`` run out."""
    try:
        return next_time(repeat, after=after)
    except CroniterError:
        return None


def next_run(repeat: dict[str, Any], *, scheduled: float, now: float) -> float | None:
    """When the run after one scheduled at ``scheduled`` and finished at ``now`` starts:
    ``every`` seconds after the finish, or with ``fixed`` the first step of ``every`` from
    the first run's time (``anchor``) still to come (steps a late finish passed are skipped,
    not run at once; a retry's backoff moves no step); a cron's next time. None when a cron
    has no later date."""
    every = repeat.get("every")
    if every is not None and repeat.get("fixed"):
        anchor, step = float(repeat.get("anchor", scheduled)), float(every)
        at = anchor + (max(now - anchor, 0.0) // step + 1) * step
        return at if at > now else at + step
    return following_time(repeat, after=max(now, scheduled))
