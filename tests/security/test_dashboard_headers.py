"""The dashboard's files carry a Content-Security-Policy (its own scripts, styles and server
only, no framing) and nosniff; the API's answers are JSON and need none."""

from __future__ import annotations

import httpx

from livejobs.edges.dashboard_headers import POLICY
from tests.servers import InProcessServer


async def test_the_dashboards_files_carry_a_content_security_policy(
    server: InProcessServer,
) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        for path in ("/", "/app.js", "/styles.css"):
            answer = await http.get(path)
            assert answer.status_code == 200, path
            assert answer.headers["content-security-policy"] == POLICY, path
            assert answer.headers["x-content-type-options"] == "nosniff", path
    for rule in ("script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"):
        assert rule in POLICY
    assert "unsafe-inline" not in POLICY and "unsafe-eval" not in POLICY
