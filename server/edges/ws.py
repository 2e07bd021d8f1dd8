"""The WebSocket edge: frames in, calls through ``methods.dispatch_call``, frames out.

One reader loop decodes and authenticates; each call runs as its own task so a slow call never
holds up pipelined ones, except that calls about the same job wait their turn (``call_order``);
one writer task drains the session's outbox. Everything the connection owned (subscriptions, a
worker registration and its leases) is released when it goes.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

from livejobs import protocol
from livejobs.call_order import CallTasks, order_key
from livejobs.edges import wire
from livejobs.errors import (
    Invalid,
    LivejobsError,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnsupportedVersion,
)
from livejobs.logs import context
from livejobs.methods import Services, dispatch_call
from livejobs.params import Auth as AuthParams
from livejobs.params import decode_params
from livejobs.runtime.connection import Connection
from livejobs.session import Session, SessionState
from livejobs.settings import Settings
from livejobs.state import state_of

log = logging.getLogger("livejobs.ws")

POLICY_VIOLATION = 1008
GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013
#: open files a user's connections may never take (``connection_limit``): the other users'
#: connections, the store's files, the server's own sockets
RESERVED_DESCRIPTORS = 256
DRAINING = "the server is draining (shutting down); connect to another server or retry"


def origin_allowed(websocket: WebSocket, allowed: list[str] | None) -> bool:
    """Browsers send Origin; other clients usually do not. Same host is always fine."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    if allowed is not None:
        return origin in allowed or "*" in allowed
    return urlsplit(origin).netloc == websocket.headers.get("host")


async def endpoint(websocket: WebSocket) -> None:
    state = state_of(websocket.app)
    services = state.services
    settings = services.settings
    if not origin_allowed(websocket, settings.allowed_origins):
        await websocket.close(code=POLICY_VIOLATION, reason="origin not allowed")
        return
    await websocket.accept()
    if services.dispatcher.draining:  # the listener stays open while draining: say why not
        await _refuse_draining(websocket)
        return
    client = websocket.client
    session = Connection(
        f"{client.host}:{client.port}" if client else "", state.flusher, settings.max_outbox_bytes
    )
    session.address = client.host if client else ""
    session.direct = wire.direct(websocket.scope)
    state.sessions.add(session)
    writer = asyncio.create_task(_write(websocket, session))
    calls = CallTasks()
    lift = wire.lifter(websocket.scope)  # small messages only until auth succeeds
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.auth_timeout
    try:
        while session.open:
            timeout = None if session.identity else max(deadline - loop.time(), 0)
            try:
                message = await asyncio.wait_for(websocket.receive(), timeout)
            except TimeoutError:
                session.send(protocol.error(None, Unauthenticated("no auth call in time")))
                session.close("authentication deadline passed")
                break
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                session.send(
                    protocol.error(None, Invalid("binary frames are not supported; send JSON text"))
                )
                continue
            await _on_frame(services, session, text, calls)
            if lift is not None and session.identity is not None:
                lift()
                lift = None
    except WebSocketDisconnect:
        pass
    finally:
        session.close(session.close_reason or "client left")
        calls.cancel_all()
        await _release(services, session)
        state.sessions.discard(session)
        if services.credentials is not None:
            services.credentials.forget(session)
        await writer


async def _on_frame(services: Services, session: Connection, text: str, calls: CallTasks) -> None:
    try:
        frames = protocol.decode_message(text, services.settings.max_frame_bytes)
    except LivejobsError as exc:
        session.send(protocol.error(protocol.call_id_of(text) if len(text) < 65536 else None, exc))
        return
    for frame in frames:
        if not session.open:
            return  # closed by an earlier call of this message (e.g. too many failed auths)
        try:
            call = protocol.to_call(frame)
        except LivejobsError as exc:
            session.send(protocol.error(protocol.id_in(frame), exc))
            continue
        await _on_call(services, session, call, calls)


async def _on_call(
    services: Services, session: Connection, call: protocol.Call, calls: CallTasks
) -> None:
    if session.state is SessionState.CLOSED:
        return
    if session.state is SessionState.CONNECTED:
        await _authenticate(services, session, call)
        return
    if call.method == "auth":
        session.send(protocol.error(call.id, Invalid("already authenticated")))
        return
    if session.pending_calls >= services.settings.max_pending_calls:
        session.send(protocol.error(call.id, RateLimited("too many calls in flight")))
        return
    session.pending_calls += 1
    # calls about one job apply in the order sent (docs/protocol.md, "Order")
    calls.spawn(order_key(call.params), lambda: _run(services, session, call))


async def _authenticate(services: Services, session: Session, call: protocol.Call) -> None:
    if call.method != "auth":
        session.send(protocol.error(call.id, Unauthenticated("the first call must be auth")))
        return
    try:
        params = decode_params(call.params, AuthParams)
        version = protocol.check_protocol(params.protocol)
        identity = await services.auth.authenticate(params.token, session.address)
    except UnsupportedVersion as exc:  # no later call could be understood: say so and go
        session.send(protocol.error(call.id, exc))
        session.close("unsupported protocol version")
        return
    except LivejobsError as exc:
        session.send(protocol.error(call.id, exc))
        if isinstance(exc, (Unauthenticated, RateLimited)):
            session.auth_failures += 1
            if session.auth_failures >= services.settings.auth_connection_failures:
                session.close("too many failed authentications")
        return
    if not session.open:
        return  # closed while the token was read (the client left, the server stops)
    limit = connection_limit(services.settings)
    if (
        services.credentials is not None
        and services.credentials.connections(identity.user) >= limit
    ):
        message = (
            f"{identity.user!r} holds {limit} connections to this server (max_connections_per_user)"
        )
        session.send(protocol.error(call.id, RateLimited(message)))
        session.close("too many connections for this user")
        return
    session.authenticate(identity)
    if services.credentials is not None:
        services.credentials.opened(session, identity)  # the session ends when its token does
    session.batch = params.batch
    methods = services.permissions.methods_for(identity)
    reply = {
        "user": identity.user,
        "role": identity.role,
        "methods": methods,
        "protocol": version,
        "protocols": list(protocol.SUPPORTED_PROTOCOLS),
        # calls this connection may have in flight: the SDK keeps within it by itself
        "max_pending_calls": services.settings.max_pending_calls,
    }
    session.send(protocol.result(call.id, reply))
    if services.dispatcher.draining:  # it connected just before the drain began
        session.send(protocol.server_pushed("draining"))


def connection_limit(settings: Settings) -> int:
    """``max_connections_per_user``, or all but ``RESERVED_DESCRIPTORS`` of the descriptors
    this process may open (read each time: a supervisor may raise the limit)."""
    if settings.max_connections_per_user is not None:
        return settings.max_connections_per_user
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return sys.maxsize
    return max(soft - RESERVED_DESCRIPTORS, 1)


async def _run(services: Services, session: Connection, call: protocol.Call) -> None:
    assert session.identity is not None
    try:
        value = await dispatch_call(services, session.identity, call.method, call.params, session)
        session.send(protocol.result(call.id, value))
    except LivejobsError as exc:
        session.send(protocol.error(call.id, exc))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("method %s failed", call.method, extra=context(user=session.identity.user))
        session.send(protocol.internal_error(call.id))
    finally:
        session.pending_calls -= 1


async def _refuse_draining(websocket: WebSocket) -> None:
    """An ``unavailable`` error in place of the auth reply, then close 1013 (try again later)."""
    try:
        await websocket.send_text(protocol.error(None, Unavailable(DRAINING)))
        await websocket.close(code=TRY_AGAIN_LATER, reason="server draining")
    except Exception:
        pass  # the client left first


async def _release(services: Services, session: Connection) -> None:
    """The connection is gone: its subscriptions close, and the jobs its workers held are
    lost attempts (retried per their policy)."""
    services.subscriptions.close_session(session)
    workers = session.workers()
    session.worker, session.retired_workers = None, []
    for worker in workers:
        try:
            await services.dispatcher.remove(worker)
        except Exception:
            log.exception(
                "releasing the jobs of worker %s failed",
                worker.worker_id,
                extra=context(worker=worker.worker_id, user=worker.user),
            )


async def _write(websocket: WebSocket, session: Session) -> None:
    """Drain the outbox; a batching client gets every queued frame in one message, so a busy
    server sends fewer, larger messages instead of falling behind. Where the server takes
    whole frames (``wire``), they are framed here, each shared run's bytes made once."""
    framed = wire.FRAME in (websocket.scope.get("extensions") or {})
    try:
        while (frames := await session.take()) is not None:
            if framed:
                await websocket.send({"type": "websocket.send", wire.FRAME: wire.message(frames)})
            else:
                await websocket.send_text(protocol.join(frames))
    except Exception:  # the client went away mid-write
        session.close("write failed")
        return
    try:
        code = GOING_AWAY if session.close_reason == "server shutting down" else POLICY_VIOLATION
        if session.close_reason == "client left":
            return
        await websocket.close(code=code, reason=(session.close_reason or "")[:120])
    except Exception:
        pass
