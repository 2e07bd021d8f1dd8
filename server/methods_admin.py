"""The handlers of the admins' methods, users and tokens (``livejobs.methods`` lists them).

Removing a user or revoking a token ends its open sessions on every server
(``livejobs.credentials``); these handlers only write the records.
"""

from __future__ import annotations

from typing import Any

from livejobs import params as p
from livejobs.context import Ctx


async def users_add(ctx: Ctx, params: p.UserAdd) -> dict[str, Any]:
    return await ctx.services.auth.add_user(params.name, params.role, params.types)


async def users_remove(ctx: Ctx, params: p.UserRef) -> bool:
    return await ctx.services.auth.remove_user(params.name)


async def users_list(ctx: Ctx, params: p.Empty) -> list[dict[str, Any]]:
    return await ctx.services.auth.list_users()


async def tokens_create(ctx: Ctx, params: p.TokenCreate) -> dict[str, Any]:
    return await ctx.services.auth.create_token(params.user, params.expires)


async def tokens_list(ctx: Ctx, params: p.TokenList) -> list[dict[str, Any]]:
    return await ctx.services.auth.list_tokens(params.user)


async def tokens_revoke(ctx: Ctx, params: p.TokenRevoke) -> bool:
    return await ctx.services.auth.revoke_token(params.id)
