"""Imports (contract §25), the job's side: plan an import's chunks, apply a chunk.

    POST /imports ──> S3 imports/<id>.jsonl, IMPORT#<id>, IMPORTS/OPEN#<id>
        │ {"job": "run_imports", "import_id"}          (also queued by the scheduled run_imports
        v                                              for every open import)
    plan: stream the object once, cut it into chunks of `import_chunk_lines` non-blank
        │ lines (byte ranges, the same every time), queue each chunk not done yet, then
        │ record the plan (`chunks`, `planned_at`: a lease against planning it again)
        v
    chunk: read its byte range, check each line (the POST /members rules), read the
        members of 100 lines in one BatchGetItem, apply each new member in its own
        transaction (commands/import_member.py), then record the chunk's result once:
        one transaction puts CHUNK#<n> (attribute_not_exists) and ADDs its counts to
        the import. A chunk killed part-way is run again from the start: the lines it
        applied are recognised by the line they came from (`imported_from` on the
        profile) and counted as imported again, nothing is written twice, and its
        result counts once.

A line whose member exists (enrolled before, or by an earlier line of the import)
is `skipped_existing`; a line that cannot be applied is an error with its 1-based
line number in the object, its code and message; neither stops the others.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Optional

import pydantic
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import clock
from chalicelib.api import schemas
from chalicelib.api.edge import DuplicateKeyError, describe, unique_keys
from chalicelib.domain.calendar import format_instant
from chalicelib.errors import ConcurrentUpdateError, DangolError, MemberExistsError, ThrottledError
from chalicelib.ledger.commands.import_member import import_marker, import_member
from chalicelib.ledger.imports import MAX_ERRORS_LISTED, is_done, plan_message
from chalicelib.ledger.member_changes import MemberChanges, Reads
from chalicelib.storage.import_files import ImportFiles
from chalicelib.storage.queues import QueueSender
from chalicelib.storage.repository import (
    IMPORT_CHUNK_PREFIX,
    OPEN_IMPORT_PREFIX,
    OPEN_IMPORTS_PK,
    import_chunk_key,
    import_key,
    import_pk,
    key_of,
    open_import_key,
    profile_key,
)
from chalicelib.storage.store import NONE, Commit, CommitConflict, Store, to_attrs

log = logging.getLogger(__name__)

CHUNK_JOB = "import_chunk"
# A plan recorded less than this long ago is left to its chunks; after it, the open
# import is planned again and the chunks with no result are queued again.
PLAN_LEASE = dt.timedelta(minutes=30)
# members read per BatchGetItem: 100 keys at most, and the read may add the program and
# whether there are webhooks (MemberChanges.read)
READ_BATCH = 98
MAX_MESSAGE_CHARS = 300
TRANSIENT = (ThrottledError, ConcurrentUpdateError, ClientError, BotoCoreError)


@dataclass
class ChunkResult:
    lines: int = 0
    imported: int = 0
    skipped_existing: int = 0
    errors: list[dict] = field(default_factory=list)
    error_count: int = 0

    def error(self, line: int, code: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_LISTED:
            self.errors.append({"line": line, "code": code, "message": message[:MAX_MESSAGE_CHARS]})


class ImportJobs:
    def __init__(
        self, store: Store, changes: MemberChanges, files: ImportFiles, queue: QueueSender, chunk_lines: int = 1000
    ):
        self.store = store
        self.changes = changes
        self.files = files
        self.queue = queue
        self.chunk_lines = chunk_lines

    # -- the scheduled run -----------------------------------------------
    def queue_open(self) -> int:
        """Every import not finished gets its planning task again (the plan's lease
        keeps one in flight from being planned twice)."""
        opened = self.store.query_all(OPEN_IMPORTS_PK, OPEN_IMPORT_PREFIX)
        self.queue.send([plan_message(item["import_id"]) for item in opened])
        return len(opened)

    # -- planning ----------------------------------------------------------
    def plan(self, import_id: str) -> int:
        """Queue the chunks of `import_id` that have no result yet; how many."""
        item = self.store.get(*import_key(import_id))
        if item is None:
            return 0
        if is_done(item):
            self._close(item)
            return 0
        now = clock.now()
        stale = format_instant(now - PLAN_LEASE)
        if item.get("planned_at") and item["planned_at"] > stale:
            return 0  # planned a moment ago: its chunks are on their way
        chunks = self._chunks(item["file"])
        done = {c["sk"] for c in self.store.query_all(import_pk(import_id), IMPORT_CHUNK_PREFIX)}
        due = [
            {
                "job": CHUNK_JOB,
                "import_id": import_id,
                "file": item["file"],
                "chunk": n,
                "start": start,
                "end": end,
                "first_line": first_line,
            }
            for n, (start, end, first_line) in enumerate(chunks)
            if import_chunk_key(import_id, n)[1] not in done
        ]
        # queued before the plan is recorded: a planner that dies in between is run again by
        # its message, and a chunk queued twice is recorded once (its result item)
        self.queue.send(due)
        self.store.update(
            *import_key(import_id),
            "SET #n = :n, #p = :p",
            {"#n": "chunks", "#p": "planned_at"},
            {":n": len(chunks), ":p": format_instant(now)},
        )
        if not chunks:
            self._close(item)
        log.info("import %s: %d chunks, %d queued", import_id, len(chunks), len(due))
        return len(due)

    def _chunks(self, file_key: str) -> list[tuple[int, int, int]]:
        """(start, end, first line) of each chunk: `chunk_lines` non-blank lines, blank
        lines riding along with the next one (trailing blank lines make no chunk)."""
        chunks: list[tuple[int, int, int]] = []
        begun: Optional[tuple[int, int]] = None
        filled = last_end = 0
        for number, (start, end, blank) in enumerate(self.files.line_offsets(file_key), 1):
            if begun is None:
                begun = (start, number)
            if blank:
                continue
            filled, last_end = filled + 1, end
            if filled == self.chunk_lines:
                chunks.append((begun[0], end, begun[1]))
                begun, filled = None, 0
        if begun is not None and filled:
            chunks.append((begun[0], last_end, begun[1]))
        return chunks

    # -- a chunk -------------------------------------------------------------
    def run_chunk(self, task: dict[str, Any]) -> Optional[ChunkResult]:
        """Apply one chunk and record its result once; None when it was recorded before."""
        import_id, chunk = task["import_id"], int(task["chunk"])
        chunk_key = import_chunk_key(import_id, chunk)
        if self.store.get(*chunk_key) is not None:
            # recorded by an earlier delivery, which may have died before closing the import
            item = self.store.get(*import_key(import_id))
            if item is not None and is_done(item):
                self._close(item)
            return None
        data = self.files.read_range(task["file"], int(task["start"]), int(task["end"]))
        result = ChunkResult()
        good: list[tuple[int, schemas.ImportLine]] = []
        for number, raw in enumerate(data.split(b"\n"), int(task["first_line"])):
            if not raw.strip():
                continue
            result.lines += 1
            line, problem = parse_line(raw)
            if line is None:
                result.error(number, "VALIDATION_ERROR", problem)
            else:
                good.append((number, line))
        seen: set[str] = set()
        for start in range(0, len(good), READ_BATCH):
            batch = good[start : start + READ_BATCH]
            program, records, _ = self.changes.read([line.member_id for _, line in batch])
            for number, line in batch:
                # an id met earlier in this chunk is read again when it is applied
                again = line.member_id in seen
                seen.add(line.member_id)
                self._apply(import_id, number, line, None if again else Reads(program, records, {}), result)
        self._record(import_id, chunk, chunk_key, result)
        return result

    def _apply(
        self, import_id: str, number: int, line: schemas.ImportLine, read: Optional[Reads], result: ChunkResult
    ) -> None:
        marker = import_marker(import_id, number)
        prefetched = None
        if read is not None:
            record = read.records.get(line.member_id)
            if record is not None and not record.get("erased"):
                self._count_existing(record, marker, result)
                return
            found = {profile_key(line.member_id): record} if record is not None else {}
            prefetched = Reads(read.program, {line.member_id: record} if record is not None else {}, found)
        try:
            import_member(self.changes, line, marker, prefetched)
            result.imported += 1
        except MemberExistsError:
            current = self.store.get(*profile_key(line.member_id)) or {}
            self._count_existing(current, marker, result)
        except TRANSIENT:
            raise  # the chunk is run again (SQS), from its start
        except DangolError as error:
            result.error(number, error.code, error.message)
        except Exception as error:  # a bug: the line is reported, the others go on
            log.exception("import %s line %d failed (%s)", import_id, number, type(error).__name__)
            result.error(number, "INTERNAL_ERROR", "the line could not be applied")

    @staticmethod
    def _count_existing(record: dict, marker: str, result: ChunkResult) -> None:
        if record.get("imported_from") == marker:
            result.imported += 1  # this very line enrolled it (an earlier run of the chunk)
        else:
            result.skipped_existing += 1

    def _record(self, import_id: str, chunk: int, chunk_key: tuple[str, str], result: ChunkResult) -> None:
        commit = Commit(self.store.table)
        commit.put_new(
            {
                **key_of(chunk_key),
                "lines": result.lines,
                "imported": result.imported,
                "skipped_existing": result.skipped_existing,
                "error_count": result.error_count,
                "errors": result.errors,
                "recorded_at": format_instant(clock.now()),
            },
            NONE,
        )
        counts = {
            "lines": result.lines,
            "imported": result.imported,
            "skipped_existing": result.skipped_existing,
            "error_count": result.error_count,
            "chunks_done": 1,
        }
        names = {f"#c{i}": name for i, name in enumerate(counts)}
        values = {f":c{i}": value for i, value in enumerate(counts.values())}
        commit.update(
            key_of(import_key(import_id)),
            "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(counts))),
            names,
            values,
        )
        try:
            self.store.commit(commit)
        except CommitConflict as conflict:
            if conflict.found("none"):
                return  # another run of this chunk recorded it: counted once
            raise
        item = self.store.get(*import_key(import_id))
        if item is not None and is_done(item):
            self._close(item)

    def _close(self, item: dict) -> None:
        """A finished import: its file (names, emails, phones) is deleted at once, and it
        is no longer open. Its report stays."""
        self.files.delete(item["file"])
        key = key_of(open_import_key(item["import_id"]))
        self.store.client.delete_item(TableName=self.store.table, Key=to_attrs(key))


def parse_line(raw: bytes) -> tuple[Optional[schemas.ImportLine], str]:
    """The line as a member to import, or None and what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "the line is not UTF-8"
    try:
        value = json.loads(text, object_pairs_hook=unique_keys)
    except DuplicateKeyError as error:
        return None, str(error).replace("the body", "the line")
    except (ValueError, RecursionError):
        return None, "the line is not valid JSON"
    if not isinstance(value, dict):
        return None, "the line is not a JSON object"
    try:
        return schemas.ImportLine.model_validate_json(text), ""
    except pydantic.ValidationError as error:
        return None, describe(error)
