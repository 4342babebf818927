"""Identifiers: time-ordered transaction ids and random public codes."""

from __future__ import annotations

import secrets

from ulid import ULID

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def ulid_sequence(count: int) -> list[str]:
    """`count` ids that sort in the order given (one ULID, then its successors)."""
    first = ULID()
    return [str(ULID.from_int(int(first) + i)) for i in range(count)]


def new_id() -> str:
    return str(ULID())


def referral_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))


def voucher_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
