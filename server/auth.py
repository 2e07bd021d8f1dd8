"""Who is calling: users and tokens in the store, tokens kept only as hashes.

A token reads ``lj_<id>_<secret>``: ``id`` finds the record, the SHA-256 of the whole token is
compared in constant time. 128 random bits of secret; tokens may expire and be revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from livejobs.auth_limit import AuthLimiter
from livejobs.clock import Clock
from livejobs.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from livejobs.roles import ROLES
from livejobs.store.base import Store

USER_DELETED = "user deleted: the token's user no longer exists"


@dataclass(frozen=True, slots=True)
class Identity:
    user: str
    role: str
    #: job types a worker may claim (None: any)
    types: tuple[str, ...] | None = None
    token_id: str | None = None
    #: when the token stops working (epoch seconds); open sessions end then
    expires: float | None = None


def bind_worker_id(user: str, worker_id: str) -> str:
    """The worker id a connection of ``user`` may use: ids are ``user/name`` (or the bare user
    name), so a worker cannot take another's id and with it the jobs ``target``ed there."""
    if worker_id == user or worker_id.startswith(user + "/"):
        return worker_id
    if "/" in worker_id:
        raise Forbidden(f"worker id {worker_id!r} belongs to another user; use {user}/<name>")
    return f"{user}/{worker_id}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token_id(token: str) -> str:
    parts = token.split("_")
    if len(parts) == 3 and parts[0] == "lj" and parts[1]:
        return parts[1]
    return "h" + _hash(token)[:15]  # a fixed token given by the operator (--admin-token)


class Auth:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        anonymous_role: str | None = None,
        limiter: AuthLimiter | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.anonymous_role = anonymous_role
        #: failed tokens back off per client address (None: unlimited, e.g. the CLI)
        self.limiter = limiter

    async def authenticate(self, token: str | None, address: str | None = None) -> Identity:
        """The identity ``token`` gives; a token from an ``address`` backing off after failed
        attempts is refused (``rate_limited``) unread, and each failure lengthens the wait."""
        if not token:
            if self.anonymous_role:
                return Identity(user="anonymous", role=self.anonymous_role)
            raise Unauthenticated("a token is required")
        limiter = self.limiter
        if limiter is not None and address is not None:
            limiter.check(address)
        try:
            record = await self.store.get_record("tokens", _token_id(token))
            if record is None or not hmac.compare_digest(record["hash"], _hash(token)):
                raise Unauthenticated("unknown token")
            return await self._identity(record)
        except Unauthenticated:
            if limiter is not None and address is not None:
                limiter.failed(address)
            raise

    async def recheck(self, identity: Identity) -> Identity:
        """The identity its token gives now: raises ``Unauthenticated`` (saying why) once the
        token is revoked, expired or gone, or its user deleted. Open sessions call this when
        the feed shows their token's or user's record changed, on whichever server."""
        if identity.token_id is None:
            return identity  # anonymous: no credentials to follow
        record = await self.store.get_record("tokens", identity.token_id)
        if record is None:
            if await self.store.get_record("users", identity.user) is None:
                raise Unauthenticated(USER_DELETED)  # its tokens went with it
            raise Unauthenticated("token deleted")
        return await self._identity(record)

    async def _identity(self, record: dict[str, Any]) -> Identity:
        if record.get("revoked"):
            raise Unauthenticated("token revoked")
        if record.get("expires") is not None and record["expires"] <= self.clock.now():
            raise Unauthenticated("token expired")
        user = await self.store.get_record("users", record["user"])
        if user is None:
            raise Unauthenticated(USER_DELETED)
        types = tuple(user["types"]) if user.get("types") else None
        return Identity(
            user=user["name"],
            role=user["role"],
            types=types,
            token_id=record["id"],
            expires=record.get("expires"),
        )

    async def add_user(
        self, name: str, role: str, types: list[str] | None = None
    ) -> dict[str, Any]:
        if role not in ROLES:
            raise Invalid(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        if "/" in name:  # worker ids are "user/name": a user name with "/" could pass as another's
            raise Invalid(f"user name {name!r} may not contain '/'")
        taken = Conflict(f"user {name!r} exists")
        if await self.store.get_record("users", name) is not None:
            raise taken
        user = {"name": name, "role": role, "types": types, "created": self.clock.now()}
        # written only where no record is: two admins (or servers) adding one name at once
        # must not both be told they did, the second's role silently replacing the first's
        if not await self.store.swap_record("users", name, {**user, "rev": 1}, 0):
            raise taken
        return user

    async def remove_user(self, name: str) -> bool:
        """Delete a user and its tokens; its open sessions end (``recheck``) on every server."""
        if await self.store.get_record("users", name) is None:
            raise NotFound(f"no user {name!r}")
        await self.store.delete_record("users", name)  # first: sessions end as "user deleted"
        for record in await self.store.list_records("tokens"):
            if record["user"] == name:
                await self.store.delete_record("tokens", record["id"])
        return True

    async def list_users(self) -> list[dict[str, Any]]:
        return [_without_rev(user) for user in await self.store.list_records("users")]

    async def create_token(
        self, user: str, expires_in: float | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """Make a token for ``user``; the clear token is returned here and never again."""
        if await self.store.get_record("users", user) is None:
            raise NotFound(f"no user {user!r}")
        if token is None:
            token = f"lj_{secrets.token_hex(6)}_{secrets.token_hex(16)}"
        now = self.clock.now()
        record: dict[str, Any] = {
            "id": _token_id(token),
            "user": user,
            "hash": _hash(token),
            "created": now,
            "expires": now + expires_in if expires_in else None,
            "revoked": False,
        }
        await self.store.put_record("tokens", record["id"], record)
        return {"id": record["id"], "user": user, "token": token, "expires": record["expires"]}

    async def list_tokens(self, user: str | None = None) -> list[dict[str, Any]]:
        records = await self.store.list_records("tokens")
        return [
            {k: v for k, v in r.items() if k != "hash"}
            for r in records
            if user is None or r["user"] == user
        ]

    async def revoke_token(self, token_id: str) -> bool:
        record = await self.store.get_record("tokens", token_id)
        if record is None:
            raise NotFound(f"no token {token_id!r}")
        await self.store.put_record("tokens", token_id, {**record, "revoked": True})
        return True

    async def bootstrap(self, fixed_token: str | None = None) -> str | None:
        """On a store with no users, create ``admin`` and return its new token (to print once).

        With ``fixed_token`` the operator chose the admin token: make sure it exists, print nothing.
        """
        users = await self.store.list_records("users")
        if fixed_token:
            await self._ensure_admin()
            if await self.store.get_record("tokens", _token_id(fixed_token)) is None:
                await self.create_token("admin", token=fixed_token)
            return None
        if users or not await self._ensure_admin():
            return None  # servers starting together: the one that made the admin prints
        return str((await self.create_token("admin"))["token"])

    async def _ensure_admin(self) -> bool:
        """The ``admin`` user, made unless it exists; True if this call made it. Servers
        starting together on a fresh database each get here, and the one that finds it made
        by another must still start."""
        try:
            await self.add_user("admin", "admin")
        except Conflict:
            return False
        return True


def _without_rev(user: dict[str, Any]) -> dict[str, Any]:
    """A user as callers see it: the record's revision is the store's business."""
    return {key: value for key, value in user.items() if key != "rev"}
