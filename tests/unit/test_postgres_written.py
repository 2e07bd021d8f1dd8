"""``feed.Written``: the follower hands out a document this server logged instead of decoding
its bytes again, and forgets what it kept once read or pushed out."""

from __future__ import annotations

import msgspec

from livejobs.store.postgres.feed import Written, encode


def test_a_remembered_document_is_handed_out_once_then_decoded() -> None:
    written = Written()
    doc = {"id": "a", "version": 2, "data": {"x": [1, 2]}}
    raw = encode(doc, written)
    assert raw == msgspec.json.encode(doc)
    assert written.take(raw) is doc
    again = written.take(raw)  # read a second time (another reader's bytes): decoded
    assert again == doc and again is not doc
    assert len(written) == 0


def test_bytes_this_server_never_wrote_are_decoded() -> None:
    written = Written()
    encode({"id": "a"}, written)
    assert written.take(b'{"id":"b"}') == {"id": "b"}
    assert len(written) == 1


def test_entries_never_read_are_pushed_out_by_newer_ones() -> None:
    written = Written()
    written.LIMIT = 3
    first = encode({"id": "0"}, written)
    for i in range(1, 5):
        encode({"id": str(i)}, written)
    assert len(written) == 3
    assert written.take(first) == {"id": "0"}  # forgotten: decoded, still right
    assert len(written) == 3


def test_the_documents_kept_are_bounded_by_their_bytes_too() -> None:
    written = Written()
    written.LIMIT_BYTES = 100
    big = encode({"id": "big", "data": "x" * 200}, written)  # alone over the bound: not kept
    assert len(written) == 0
    kept = [encode({"id": str(i)}, written) for i in range(20)]  # 10 or 11 bytes each
    assert 0 < len(written) < 20
    assert written.take(kept[-1]) == {"id": "19"}
    assert written.take(big)["data"] == "x" * 200  # decoded, still right
