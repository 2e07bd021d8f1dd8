"""``render_failure``: every shape a stored failure takes, as the text people read."""

from __future__ import annotations

from livejobs.failures import describe_exception, render_failure


def nested() -> None:
    raise KeyError("customer")


def test_an_sdk_failure_renders_as_its_traceback():
    try:
        nested()
    except KeyError as exc:
        stored = describe_exception(exc)
    text = render_failure(stored)
    lines = text.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert any("in nested" in line for line in lines)
    assert lines[-1] == "KeyError: 'customer'"
    assert "\\n" not in text


def test_a_truncated_or_foreign_traceback_keeps_the_headline():
    text = render_failure({"type": "Boom", "message": "it broke", "traceback": "  File x\n"})
    assert text == "  File x\nBoom: it broke"


def test_strings_other_fields_and_other_json():
    assert render_failure("worker lost") == "worker lost"
    assert render_failure({"message": "no stock", "sku": 7}) == 'no stock\n{\n  "sku": 7\n}'
    assert render_failure(["a", 1]) == '["a", 1]'
    assert render_failure(None) == "null"
