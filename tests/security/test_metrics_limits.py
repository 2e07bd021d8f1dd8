"""Security issue 20, item 13: job types invented by creators do not grow /metrics without
bound (the first ``max_metric_types`` have labels, the rest count as ``type="(other)"``), and
/metrics can be put behind a token."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import InProcessServer

TYPES = 1000
METRICS_TOKEN = "metrics-0123456789abcdef"


async def _scrape(srv: InProcessServer, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=srv.http_url) as http:
        return await http.get("/metrics", headers=headers)


async def test_invented_types_leave_the_metric_families_bounded(server: InProcessServer) -> None:
    creator = await server.token("creator", "inventor")
    async with server.client(creator) as client:
        await client.call(
            "jobs.create_many", {"jobs": [{"type": f"t{n}", "delay": 60} for n in range(TYPES)]}
        )
    reply = await _scrape(server)
    assert reply.status_code == 200
    types: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            if "type" in sample.labels:
                types.setdefault(family.name, set()).add(sample.labels["type"])
    assert types["livejobs_jobs_created"] and types["livejobs_jobs"]
    limit = server.settings.max_metric_types
    for name, labels in types.items():
        assert len(labels) <= limit + 1, f"{name} has {len(labels)} type labels"
    assert "(other)" in types["livejobs_jobs_created"]
    created = [
        s.value
        for f in text_string_to_metric_families(reply.text)
        if f.name == "livejobs_jobs_created"
        for s in f.samples
        if s.name.endswith("_total")
    ]
    assert sum(created) == TYPES  # every job is still counted


async def test_metrics_token_is_required_when_set(tmp_path: Path) -> None:
    srv = InProcessServer(tmp_path / "jobs.db", metrics_token=METRICS_TOKEN)
    await srv.start()
    try:
        missing = await _scrape(srv)
        assert missing.status_code == 401
        assert missing.json()["code"] == "unauthenticated"
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert (await _scrape(srv, "wrong-token-0123456789")).status_code == 401
        assert (await _scrape(srv, srv.admin_token)).status_code == 401
        allowed = await _scrape(srv, METRICS_TOKEN)
        assert allowed.status_code == 200 and "livejobs_clients" in allowed.text
    finally:
        await srv.stop()
