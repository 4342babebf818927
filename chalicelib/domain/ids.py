"""Identifiers: time-ordered transaction ids and random public codes."""

from __future__ import annotations

import secrets

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def ulid_sequence(count: int) -> list[str]:
    """`count` ids that sort in the order given (one ULID, then its successors).
    python-ulid is imported by the first id a container makes (a write): a cold
    start, and a container that only reads, need not load it."""
    from ulid import ULID

    first = ULID()
    return [str(ULID.from_int(int(first) + i)) for i in range(count)]


def new_id() -> str:
    from ulid import ULID

    return str(ULID())


def referral_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))


def voucher_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
