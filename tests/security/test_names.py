"""Names (a job type, a group, a worker id, a user) hold no control characters: they are shown
in logs, the CLI and the dashboard, where a newline forges a line and an escape sequence reaches
a terminal. Such a name is ``invalid`` at the edge, saying why; any printable text is a name."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from livejobs_sdk import CallError
from tests.servers import InProcessServer

REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("jobs.create", {"type": "mail\nINFO forged line"}),
    ("jobs.create", {"type": "mail", "group": "tenant\x1b[2J"}),
    ("jobs.create", {"type": "mail", "target": "admin/w\r"}),
    ("worker.start", {"types": ["mail"], "worker_id": "w\x9b31m"}),
    ("users.add", {"name": "eve\tadmin", "role": "creator"}),
    ("types.pause", {"type": "mail\x00"}),
]


@pytest.mark.parametrize(("method", "params"), REFUSED)
async def test_a_name_with_a_control_character_is_invalid(
    server: InProcessServer, method: str, params: dict[str, Any]
) -> None:
    async with server.client() as client:
        with pytest.raises(CallError) as refused:
            await client.call(method, params)
    assert refused.value.code == "invalid"
    assert "without control characters" in str(refused.value), refused.value


async def test_printable_names_in_any_script_are_names(server: InProcessServer) -> None:
    async with server.client() as client:
        job = await client.job("rapports mensuels · 日本語 — ü", {}).group("équipe 7").save()
        assert job.doc is not None and job.doc["group"] == "équipe 7"
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        answer = await http.post(
            "/api/jobs",
            json={"type": "a\nb"},
            headers={"Authorization": f"Bearer {server.admin_token}"},
        )
    assert answer.status_code == 400 and "without control characters" in answer.text
