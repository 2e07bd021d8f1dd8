"""Open sessions follow their credentials: a token revoked, expired or deleted, or its user
deleted or given another role, ends the WebSocket sessions it opened, on every server.

Token and user records are store records; every write of one reaches every server sharing the
store on the change feed (``Change(op="record", id="tokens/<id>" or "users/<name>")``), and the
feed router hands it here. Each session of that token or user re-reads its credentials
(``Auth.recheck``); a session whose credentials no longer hold, or now give another role or
other types, is closed with the reason (its subscriptions were scoped to the old identity, so
it reconnects rather than being quietly downgraded). Expiry needs no write: a session whose
token expires gets a timer on the server's clock, set at ``auth``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from livejobs import protocol
from livejobs.auth import Auth, Identity
from livejobs.clock import Clock
from livejobs.errors import Unauthenticated
from livejobs.logs import context
from livejobs.session import Session

log = logging.getLogger("livejobs.auth")

KINDS = ("tokens", "users")


class Credentials:
    def __init__(self, auth: Auth, clock: Clock, sessions: set[Session]) -> None:
        self.auth = auth
        self.clock = clock
        self.sessions = sessions
        self._timers: dict[Session, asyncio.Task[None]] = {}
        #: the user of every authenticated session, and each user's count of them, kept as
        #: sessions come and go: a reconnect storm checks each ``auth`` in constant time
        self._users: dict[Session, str] = {}
        self._per_user: Counter[str] = Counter()

    async def changed(self, kind: str, record_id: str) -> None:
        """A token or user record changed (on any server): recheck the sessions it holds."""
        field = "token_id" if kind == "tokens" else "user"
        affected: dict[str | None, list[Session]] = {}
        for session in self.sessions:
            identity = session.identity
            if session.open and identity is not None and getattr(identity, field) == record_id:
                affected.setdefault(identity.token_id, []).append(session)
        for group in affected.values():
            await self._recheck(group)

    async def _recheck(self, sessions: list[Session]) -> None:
        identity = sessions[0].identity
        assert identity is not None
        try:
            now = await self.auth.recheck(identity)
        except Unauthenticated as exc:
            self._end(sessions, exc)
            return
        except Exception:  # the store failed: keep the sessions, the next change rechecks
            log.exception("rechecking the sessions of user %s failed", identity.user)
            return
        if (now.role, now.types) != (identity.role, identity.types):
            self._end(sessions, Unauthenticated("the user's role or types changed; reconnect"))

    def _end(self, sessions: list[Session], exc: Unauthenticated) -> None:
        for session in sessions:
            user = session.identity.user if session.identity else None
            log.info("closing a session: %s", exc.message, extra=context(user=user))
            session.send(protocol.error(None, exc))
            session.close(exc.message)
            self.forget(session)

    def connections(self, user: str) -> int:
        """The authenticated sessions ``user`` holds on this server."""
        return self._per_user[user]

    def opened(self, session: Session, identity: Identity) -> None:
        """A session authenticated: count it, and end it when its token expires."""
        if session not in self._users:
            self._users[session] = identity.user
            self._per_user[identity.user] += 1
        if identity.expires is not None:
            self._timers[session] = asyncio.create_task(self._expire(session, identity.expires))

    async def _expire(self, session: Session, when: float) -> None:
        await self.clock.sleep_until(when, asyncio.Event())
        self._timers.pop(session, None)
        if session.open:
            self._end([session], Unauthenticated("token expired"))

    def forget(self, session: Session) -> None:
        """The session is gone: its count and its expiry timer with it."""
        user = self._users.pop(session, None)
        if user is not None:
            self._per_user[user] -= 1
            if not self._per_user[user]:
                del self._per_user[user]
        timer = self._timers.pop(session, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
