"""The sync client's mirror of live windows and count feeds: ``subscribe(filter, sort=...,
limit=...)`` and ``subscribe(filter, counts=True)`` from a thread without an event loop."""

from __future__ import annotations

from livejobs_sdk import SyncClient, SyncSubscription


def next_until(sub: SyncSubscription, done, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    while not (sub.ready.is_set() and done()):
        sub.next(timeout)


def test_sync_window_and_counts(sync_server) -> None:  # type: ignore[no-untyped-def]
    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        for n in range(5):
            client.job("sw", {"n": n}).priority(n).save()
        window = client.subscribe(
            {"type": "sw", "status": "ready"}, sort=[("priority", 1)], limit=2
        )
        with window as sub, client.subscribe({"type": "sw"}, counts=True) as feed:
            ns = lambda: [doc["data"]["n"] for doc in sub.rows]  # noqa: E731
            next_until(sub, lambda: ns() == [0, 1])
            next_until(feed, lambda: feed.counts.get("type") == {"sw": 5})
            first = client.find({"type": "sw"}, sort=[("priority", 1)], limit=1)[0]
            client.cancel_jobs([first["id"]])
            next_until(sub, lambda: ns() == [1, 2])
            next_until(feed, lambda: feed.counts["status"] == {"ready": 4, "cancelled": 1})
            assert ns() == [1, 2] and feed.counts["type"] == {"sw": 5}
