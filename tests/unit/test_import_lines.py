"""§25 without AWS: how an import's file is cut into chunks (byte ranges of non-blank
lines, numbered as in the file) and how a line is read."""

from __future__ import annotations

import io

from chalicelib.jobs.imports import ImportJobs, parse_line
from chalicelib.storage.import_files import ImportFiles


class FakeS3:
    def __init__(self, data: bytes):
        self.data = data

    def get_object(self, Bucket, Key, Range=None):
        data = self.data
        if Range:
            start, end = Range.removeprefix("bytes=").split("-")
            data = data[int(start) : int(end) + 1]
        return {"Body": Body(data)}


class Body(io.BytesIO):
    def iter_chunks(self, size):
        while piece := self.read(3):  # tiny pieces: lines cross them
            yield piece


def chunks_of(data: bytes, lines: int) -> list[tuple[int, int, int]]:
    files = ImportFiles(FakeS3(data), "bucket")
    return ImportJobs(None, None, files, None, chunk_lines=lines)._chunks("key")  # type: ignore[arg-type]


def test_chunks_hold_n_non_blank_lines_and_start_at_their_first_line():
    data = b'{"a":1}\n\n{"b":2}\r\n  \n{"c":3}\n{"d":4}\n\n\n'
    assert chunks_of(data, 2) == [(0, 18, 1), (18, 37, 4)]
    # each range holds exactly its lines, numbered from the chunk's first line
    files = ImportFiles(FakeS3(data), "bucket")
    pieces = [files.read_range("key", start, end).split(b"\n") for start, end, _ in chunks_of(data, 2)]
    assert [[p.strip() for p in piece if p.strip()] for piece in pieces] == [
        [b'{"a":1}', b'{"b":2}'],
        [b'{"c":3}', b'{"d":4}'],
    ]
    assert chunks_of(data, 3) == [(0, 29, 1), (29, 37, 6)]
    assert chunks_of(data, 100) == [(0, 37, 1)]


def test_a_file_without_a_last_newline_or_without_lines():
    assert chunks_of(b'{"a":1}\n{"b":2}', 1) == [(0, 8, 1), (8, 15, 2)]
    assert chunks_of(b"", 10) == []
    assert chunks_of(b"\n \n\t\n", 10) == []


def test_a_line_is_read_as_post_members_reads_a_member():
    line, problem = parse_line(b'{"member_id": "m1", "name": "Kim", "opening_balance": 5}')
    assert (
        problem == ""
        and line is not None
        and (line.member_id, line.opening_balance, line.lifetime_spend)
        == (
            "m1",
            5,
            0,
        )
    )
    for raw, expected in (
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "not valid JSON"),
        (b'"text"', "not a JSON object"),
        (b'{"member_id": "m1", "name": "A", "name": "B"}', "the line has the key 'name' more than once"),
        (b'{"name": "A"}', "member_id"),
        (b'{"member_id": "m1", "name": "A", "opening_balance": "5"}', "opening_balance"),
        (b'{"member_id": "m1", "name": "A", "opening_balance": true}', "opening_balance"),
        (b'{"member_id": "m1", "name": "A", "lifetime_spend": -1}', "lifetime_spend"),
        (b'{"member_id": "m1", "name": "A", "birthday": "1990-02-30"}', "birthday"),
        (b'{"member_id": "m1", "name": "A", "opening_expires_at": "soon"}', "opening_expires_at"),
        (b'{"member_id": "m1", "name": "A", "referral_code": "X"}', "referral_code"),
    ):
        line, problem = parse_line(raw)
        assert line is None and expected in problem, (raw, problem)
