"""The program configuration: read once per container every few seconds.

Every request needs the program, and it is one item: read by every request it
would be the hottest partition of the table. Each container keeps its copy for
`program_cache_seconds` (default 5), so a `PUT /program` takes effect at once
in the container that made it and within that time everywhere else.
"""

from __future__ import annotations

import logging
import time
from typing import Optional, Protocol

from chalicelib import clock
from chalicelib.domain.calendar import format_instant
from chalicelib.domain.ids import new_id
from chalicelib.domain.program import Program, default_program, stored_program
from chalicelib.domain.tiers import ladder_signature
from chalicelib.errors import ValidationError
from chalicelib.storage.repository import LADDER_KEY, PROGRAM_KEY
from chalicelib.storage.store import MAX_ITEM_BYTES, Store, item_size

log = logging.getLogger(__name__)


def program_from(item: Optional[dict]) -> Program:
    """The stored program (read without validating it again: see `stored_program`)."""
    if item is None:
        return default_program()
    return stored_program(item["config"])


class Publisher(Protocol):
    """Where messages to the workers go (the notifications queue)."""

    def publish(self, messages: list[dict]) -> None: ...


class Programs:
    def __init__(self, store: Store, publisher: Optional[Publisher], cache_seconds: float):
        self.store = store
        self.publisher = publisher
        self.cache_seconds = cache_seconds
        self._cached: Optional[tuple[float, Program]] = None

    def cached(self) -> Optional[Program]:
        if self._cached is not None and self._cached[0] > time.monotonic():
            return self._cached[1]
        return None

    def last_known(self) -> Optional[Program]:
        """The copy this container last read, however old: what a request may plan its
        read by (the program it decides by still comes with that read when stale)."""
        return self._cached[1] if self._cached is not None else None

    def remember(self, item: Optional[dict]) -> Program:
        program = program_from(item)
        self._cached = (time.monotonic() + self.cache_seconds, program)
        return program

    def current(self) -> Program:
        program = self.cached()
        if program is None:
            program = self.remember(self.store.get(*PROGRAM_KEY))
        return program

    def replace(self, program: Program) -> dict:
        """Store `program` (§2). One too large for one DynamoDB item is refused
        (400) before anything is written: the old one stays."""
        item = {
            "pk": PROGRAM_KEY[0],
            "sk": PROGRAM_KEY[1],
            "config": program.model_dump_json(),
            "updated_at": format_instant(clock.now()),
        }
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise ValidationError(
                f"the program is too large to store: {size} bytes, at most {MAX_ITEM_BYTES} "
                "(fewer category_multipliers or promotions, or shorter names)"
            )
        ladder = ladder_signature(program)
        # Unless members were last passed over under this very ladder, a pass over all
        # of them is due (requests re-tier members in the meantime, so a ladder changed
        # and changed back still needs one). A fresh token each time: a pass that was
        # running meanwhile cannot mark its (older) ladder applied.
        self.store.update(
            LADDER_KEY["pk"],
            LADDER_KEY["sk"],
            "SET #l = :pending",
            {"#l": "ladder"},
            {":pending": f"pending:{new_id()}", ":new": ladder},
            condition="attribute_not_exists(pk) OR #l <> :new",
        )
        old = self.store.replace(item)
        self.remember(item)
        if self.publisher is not None and ladder_signature(program_from(old)) != ladder:
            # names or thresholds of tiers changed: every member's tier is evaluated
            # again, off the request (recompute_tiers also catches up if this is lost)
            try:
                self.publisher.publish([{"job": "recompute_tiers"}])
            except Exception:
                log.exception("could not queue the tier recompute; the daily run will do it")
        return program.model_dump(mode="json")
