"""The MongoDB store's change feed: the change stream pumped into ``Feed``, and its recovery.

After an error the stream resumes from the last token (MongoDB advances it even while
nothing changes); when it cannot (no token, or MongoDB
has lost the history), a fresh stream opens and watchers are told to re-query (a reset).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import Any

from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.errors import OperationFailure, PyMongoError

from livejobs.store.base import Change
from livejobs.store.mongo.shapes import change_from_event

log = logging.getLogger(__name__)

Stream = AsyncChangeStream[dict[str, Any]]
# The change stream cannot continue from its token: start afresh and tell watchers to re-query.
RESUME_IMPOSSIBLE = frozenset({260, 280, 286})  # InvalidResumeToken, Fatal, HistoryLost
# Events after which a database-level stream is invalidated or the jobs may have vanished.
STREAM_ENDS = frozenset({"drop", "rename", "dropDatabase", "invalidate"})
RESET = Change("reset", "", None)


async def follow(
    stream: Stream | None,
    *,
    reopen: Callable[[Mapping[str, Any] | None], Awaitable[Stream]],
    repair: Callable[[], Awaitable[None]],
    publish: Callable[[list[Change]], None],
    jobs: str,
) -> None:
    """Pump the stream into ``publish``; resume or reset after an error (see the module)."""
    token = stream.resume_token if stream is not None else None
    lost, delay = False, 0.1
    while True:
        try:
            if stream is None:
                lost = lost or token is None  # a fresh stream misses what happened meanwhile
                stream = await reopen(token)
                token = stream.resume_token or token
            if lost:  # published only once the fresh stream covers what follows
                publish([RESET])
                lost = False
            async for event in stream:
                token = stream.resume_token
                if event.get("operationType") in STREAM_ENDS:
                    raise _StreamEnded(event["operationType"])
                change = change_from_event(event, jobs)
                if change is not None:
                    publish([change])
                delay = 0.1
            raise _StreamEnded("end of stream")
        except _StreamEnded as ended:
            log.warning("change stream ended (%s); watchers will re-query", ended)
            await _close(stream)
            stream, token, lost = None, None, True
            with suppress(PyMongoError):  # a dropped collection lost its unique key index
                await repair()
        except OperationFailure as exc:
            token = _last_token(stream, token)
            await _close(stream)
            stream = None
            if exc.code in RESUME_IMPOSSIBLE:
                log.warning("change stream cannot resume (%s); watchers will re-query", exc)
                token, lost = None, True
                continue
            log.warning("change stream failed (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        except PyMongoError as exc:
            token = _last_token(stream, token)
            await _close(stream)
            stream = None
            log.warning("change stream lost MongoDB (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        except Exception:  # a bug translating one event must not stop the feed for good
            log.exception("change stream event could not be handled; watchers will re-query")
            token = _last_token(stream, token)  # resuming after the event skips it
            await _close(stream)
            stream, lost = None, True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class _StreamEnded(Exception):
    """The change stream ended or its collections were dropped: start a fresh one."""


def _last_token(
    stream: AsyncChangeStream[dict[str, Any]] | None, token: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """Where to resume: the stream's own token is ahead of the last event's while idle."""
    return (stream.resume_token if stream is not None else None) or token


async def _close(stream: AsyncChangeStream[dict[str, Any]] | None) -> None:
    if stream is not None:
        with suppress(PyMongoError):
            await stream.close()
