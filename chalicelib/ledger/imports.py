"""Imports (contract §25), the API's side: accept an import, report on it.

`POST /imports` stores the lines as one S3 object (`imports/<id>.jsonl`; an
upload named by `s3_key` is copied there, so the import reads what was there
when it was asked for), records the import with its stored reply and its
`IMPORTS / OPEN#<id>` marker in one transaction, and queues the planning task
on the job queue (chalicelib/jobs/imports.py applies the lines). A lost
message is made good by the scheduled `run_imports`, which queues every open
import's planning again.

`GET /imports/{id}` reads the import item (its counters, added by each chunk
once) and, when there are errors, the chunk results in chunk order until 100
errors are listed (each chunk keeps at most 100), so the first errors by line
come first."""

from __future__ import annotations

import logging
from typing import Any, Optional

from chalicelib import clock
from chalicelib.api import schemas
from chalicelib.domain.calendar import format_instant
from chalicelib.domain.ids import new_id
from chalicelib.errors import NotFoundError, ValidationError
from chalicelib.ledger.member_changes import IdempotencyKey, MemberChanges, Result
from chalicelib.storage.import_files import ImportFiles
from chalicelib.storage.queues import QueueSender
from chalicelib.storage.repository import (
    IMPORT_CHUNK_PREFIX,
    import_file_key,
    import_key,
    import_pk,
    key_of,
    open_import_key,
)
from chalicelib.storage.store import REPLAY, STALE, Commit, CommitConflict, Store

log = logging.getLogger(__name__)

MAX_ERRORS_LISTED = 100  # §25: errors listed by GET /imports/{id} (each chunk keeps as many)
MAX_UPLOAD_BYTES = 1024**3  # an upload named by s3_key (the job streams it; chunks are byte ranges)
COUNTERS = ("lines", "imported", "skipped_existing", "error_count", "chunks_done")


def plan_message(import_id: str) -> dict:
    """The job-queue task that plans an import's chunks (chalicelib/jobs/imports.py)."""
    return {"job": "run_imports", "import_id": import_id}


class Imports:
    def __init__(self, store: Store, changes: MemberChanges, files: ImportFiles, queue: QueueSender):
        self.store = store
        self.changes = changes
        self.files = files
        self.queue = queue

    def start(self, idem: IdempotencyKey, request: schemas.CreateImport) -> Result:
        stored = self.changes.stored_reply(idem)
        if stored is not None:
            return stored
        import_id = new_id()
        file_key = import_file_key(import_id)
        if request.s3_key is not None:
            size = self.files.size(request.s3_key)
            if size is None:
                raise ValidationError(f"s3_key: there is no upload {request.s3_key[:200]!r} in the imports bucket")
            if size > MAX_UPLOAD_BYTES:
                raise ValidationError(f"s3_key: the upload is larger than {MAX_UPLOAD_BYTES} bytes")
            self.files.copy(request.s3_key, file_key)
        else:
            self.files.put(file_key, (request.data or "").encode("utf-8", "surrogatepass"))
        now = clock.now()
        result = Result.queued({"import_id": import_id})
        commit = Commit(self.store.table)
        commit.put_new(
            {
                **key_of(import_key(import_id)),
                "import_id": import_id,
                "file": file_key,
                "source": "s3_key" if request.s3_key is not None else "data",
                "created_at": format_instant(now),
            },
            STALE,
        )
        commit.put({**key_of(open_import_key(import_id)), "import_id": import_id})
        commit.put_new(self.changes.reply_item(idem, result, now), REPLAY)
        try:
            self.store.commit(commit)
        except CommitConflict as conflict:
            if conflict.found("replay"):  # a twin request with the same key was answered meanwhile
                return self.changes.replay(idem, conflict.found("replay")[0][1])
            raise
        try:
            self.queue.send([plan_message(import_id)])
        except Exception as error:  # the import is open: the scheduled run_imports queues it again
            log.warning("import %s: could not queue its planning (%s)", import_id, type(error).__name__)
        return result

    def report(self, import_id: str) -> dict:
        item = self.store.get(*import_key(import_id))
        if item is None:
            raise NotFoundError(f"import {import_id!r} not found")
        return report_of(item, self._errors(import_id) if item.get("error_count") else [])

    def _errors(self, import_id: str) -> list[dict]:
        errors: list[dict] = []
        cursor: Optional[str] = None
        while len(errors) < MAX_ERRORS_LISTED:
            chunks, cursor = self.store.query_page(import_pk(import_id), IMPORT_CHUNK_PREFIX, 100, cursor, False)
            for chunk in chunks:
                errors.extend(chunk.get("errors") or [])
            if cursor is None:
                break
        return [
            {"line": int(e["line"]), "code": e["code"], "message": e["message"]} for e in errors[:MAX_ERRORS_LISTED]
        ]


def is_done(item: dict) -> bool:
    return "chunks" in item and int(item.get("chunks_done", 0)) >= int(item["chunks"])


def report_of(item: dict, errors: list[dict]) -> dict[str, Any]:
    return {
        "import_id": item["import_id"],
        "status": "done" if is_done(item) else "running",
        "lines": int(item.get("lines", 0)),
        "imported": int(item.get("imported", 0)),
        "skipped_existing": int(item.get("skipped_existing", 0)),
        "errors": errors,
        # beyond the contract: how many errors there are in all, and when it was asked for
        "error_count": int(item.get("error_count", 0)),
        "created_at": item.get("created_at"),
    }
