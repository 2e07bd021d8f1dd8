"""Loopback ports for the servers tests start.

``bind(0)`` hands out a port from the kernel's ephemeral range, the same range every client
socket of every test gets its own port from: between the check and the server's bind, a
client could take it ("address already in use", a failed fixture now and then). Ports are
taken below that range instead, and never handed out twice in one test process (two servers
made before either starts would otherwise get the same one).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_handed: set[int] = set()


def _below_ephemeral() -> range:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(max(1024, low - 12_000), low)


_RANGE = _below_ephemeral()


def free_port() -> int:
    """A loopback port nobody listens on now, new to this process."""
    for _ in range(1000):
        port = random.choice(_RANGE) if len(_RANGE) > 1000 else 0
        if port in _handed:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = int(sock.getsockname()[1])
        _handed.add(port)
        return port
    raise RuntimeError("no free loopback port")
