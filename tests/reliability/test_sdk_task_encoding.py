"""Typed tasks encode their arguments and results as JSON carries them: a mapping keyed by
integers (or any non-string type) reaches the worker, and comes back to the caller, with
string keys, which the task's annotations must turn back into integers on either side."""

from __future__ import annotations

from livejobs_sdk import Tasks
from livejobs_sdk.tasks import dispatch
from tests.helpers import running_worker
from tests.servers import InProcessServer

app = Tasks()


@app.task(name="encoding.invert")
async def invert(scores: dict[int, str], bonus: dict[float, int] | None = None) -> dict[str, int]:
    return {name: points for points, name in scores.items()} | {
        str(weight): n for weight, n in (bonus or {}).items()
    }


@app.task(name="encoding.count")
def count(words: list[str]) -> dict[int, list[str]]:
    by_length: dict[int, list[str]] = {}
    for word in words:
        by_length.setdefault(len(word), []).append(word)
    return by_length


async def test_integer_keys_survive_the_trip_to_the_worker_and_back(
    server: InProcessServer,
) -> None:
    async with server.client() as client:
        app.use(client)
        async with running_worker(client, list(app.tasks), dispatch(app.tasks)):
            inverted = await invert.run_async({1: "a", 2: "b"}, bonus={0.5: 3})
            assert inverted == {"a": 1, "b": 2, "0.5": 3}
            assert await count.run_async(["ab", "cd", "efg"]) == {2: ["ab", "cd"], 3: ["efg"]}
