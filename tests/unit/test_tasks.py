"""Typed tasks without a server: what a decorated function accepts, refuses and encodes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
import pytest

from livejobs_sdk import InvalidArguments, SyncWorkerJob, Tasks


@dataclass
class Point:
    x: int
    y: int


app = Tasks("ws://127.0.0.1:1/ws")  # never connected: nothing here is sent


@app.task(name="geo.move")
def move(point: Point, when: datetime, job: SyncWorkerJob, steps: list[int] | None = None) -> Point:
    return point


def test_arguments_are_encoded_to_json_types_and_the_job_parameter_is_not_one():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    data = move.encode(Point(1, 2), when=when)
    assert data == {"point": {"x": 1, "y": 2}, "when": "2026-01-02T03:04:05Z"}
    assert msgspec.json.decode(msgspec.json.encode(data)) == data
    assert move.job_parameter == "job" and "job" not in move.signature.parameters
    assert move.decode_result({"x": 3, "y": 4}) == Point(3, 4)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((Point(1, 2),), {}, "missing a required argument: 'when'"),
        (({"x": "1", "y": 2}, datetime.now(UTC)), {}, "Expected `int`, got `str` - at `$.point.x`"),
        ((Point(1, 2), "yesterday"), {}, "Invalid RFC3339 encoded datetime - at `$.when`"),
        ((Point(1, 2), datetime.now(UTC)), {"steps": [1, "2"]}, "at `$.steps[1]`"),
        ((Point(1, 2), datetime.now(UTC)), {"job": None}, "unexpected keyword argument 'job'"),
    ],
)
def test_bad_arguments_are_refused_with_where_and_why(args, kwargs, message):
    with pytest.raises(InvalidArguments) as refused:
        move.encode(*args, **kwargs)
    assert str(refused.value).startswith("geo.move: invalid arguments: ")
    assert message in str(refused.value)


def test_a_result_that_does_not_match_the_annotation_is_an_error():
    with pytest.raises(Exception, match="geo.move: its result does not match"):
        move.decode_result({"x": "far"})


def test_task_definitions_that_cannot_work_are_refused_at_import():
    with pytest.raises(TypeError, match="task nowhere: cannot read its annotations: .*Nowhere"):

        @app.task(name="nowhere")
        def nowhere(place: Nowhere) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match="must be a named parameter"):

        @app.task
        def spread(*points: Point) -> None: ...

    with pytest.raises(TypeError, match="task kept: keep= takes .*not {'done'}"):

        @app.task(name="kept", keep={"done": 5})
        def kept() -> None: ...

    with pytest.raises(ValueError, match="two tasks are named 'geo.move'"):

        @app.task(name="geo.move")
        def again(point: Point) -> None: ...


def test_the_default_name_is_module_and_function_and_calling_the_task_runs_it_here():
    @app.task
    def local(n: int) -> int:
        return n + 1

    assert local.name == f"{__name__}.{local.function.__qualname__}"
    assert local.name.endswith("<locals>.local")
    assert local(1) == 2


def test_no_server_configured_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("LIVEJOBS_URL", raising=False)
    bare = Tasks()

    @bare.task
    def noop() -> None: ...

    with pytest.raises(Exception, match="no server: give Tasks\\(url\\) or set LIVEJOBS_URL"):
        noop.enqueue()
    with pytest.raises(Exception, match="no async client"):
        noop.job_async()


def test_pydantic_models_are_checked_and_encoded_by_pydantic():
    pydantic = pytest.importorskip("pydantic")  # installed with the [examples] extra

    class User(pydantic.BaseModel):
        name: str
        age: int = 0

    globals()["User"] = User  # annotations are strings, resolved in the module

    @app.task(name="users.greet")
    def greet(user: User, friends: list[User] | None = None) -> User:
        return user

    assert greet.encode(User(name="ada"), [User(name="bob", age=3)]) == {
        "user": {"name": "ada", "age": 0},
        "friends": [{"name": "bob", "age": 3}],
    }
    assert greet.encode({"name": "ada"}) == {"user": {"name": "ada"}}  # checked, kept as given
    with pytest.raises(InvalidArguments, match="Input should be a valid string") as refused:
        greet.encode({"name": 3})
    assert "at `$.user`" in str(refused.value)
    assert greet.decode_result({"name": "eve", "age": 5}) == User(name="eve", age=5)


def test_object_annotations_take_any_json_value():
    @app.task(name="loose")
    def loose(value: object) -> dict[str, object]:
        return {"value": value}

    assert loose.encode([1, {"a": None}]) == {"value": [1, {"a": None}]}
    assert loose.decode_result({"value": [1, "x"]}) == {"value": [1, "x"]}
