"""The handlers of the statistics methods and of ``workers.watch`` (``livejobs.methods``
lists them).

History sums every owner's jobs of a type, so it is for the roles that may read every job of
a type (the ``stats`` group): admins and managers see every type, a worker restricted to some
types only those; a creator, which reads only its own jobs, is not granted it
(docs/security.md, "History").
"""

from __future__ import annotations

from typing import Any

from livejobs import params as p
from livejobs.context import Ctx
from livejobs.errors import Forbidden, Unavailable


async def history(ctx: Ctx, params: p.StatsHistory) -> dict[str, Any]:
    identity, services = ctx.identity, ctx.services
    types = None if params.type is None else [params.type]
    if identity.role == "worker" and identity.types is not None:
        if types is not None and types[0] not in identity.types:
            raise Forbidden(f"{identity.user!r} may not read the history of {types[0]!r}")
        types = types or list(identity.types)
    if services.history is None:
        raise Unavailable("the server keeps no history yet")
    return await services.history.series(params.resolution, params.since, types)


async def workers_watch(ctx: Ctx, params: p.Empty) -> list[dict[str, Any]]:
    """``workers.list``, then a ``workers`` frame with the whole list whenever it changes, for
    as long as the connection lasts."""
    session = ctx.need_session()
    if ctx.services.workers is None:
        raise Unavailable("the server is starting")
    return ctx.services.workers.watch(session)
