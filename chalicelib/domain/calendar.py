"""Instants, dates and quarters as the contract writes them."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

UTC = dt.UTC


def format_instant(moment: dt.datetime) -> str:
    """`2027-01-31T09:00:00Z` (UTC, whole seconds; the year always four digits,
    so `0999-06-01T00:00:00Z` reads back as it was written)."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.ASCII)


def parse_instant(text: str) -> dt.datetime:
    """Parse an ISO-8601 instant in extended form with a zone:
    `2027-01-31T09:00:00Z` (or an offset such as `+09:00`, or fractional seconds).

    Raises ValueError for anything else (week dates, basic form, no zone).
    Sub-second digits are dropped.
    """
    if not isinstance(text, str) or not INSTANT.fullmatch(text):
        raise ValueError("expected an ISO-8601 UTC time such as 2027-01-31T09:00:00Z")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        # an offset can carry the first or last representable day out of range
        # (0001-01-01T00:00:00+01:00, 9999-12-31T23:59:59-01:00)
        return moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError:
        raise ValueError("the time is outside the years 0001 to 9999 in UTC") from None


def parse_date(text: str) -> dt.date:
    """Parse a calendar date `YYYY-MM-DD`; raises ValueError for anything else."""
    if not isinstance(text, str) or not DATE.fullmatch(text):
        raise ValueError("expected a date as YYYY-MM-DD")
    return dt.date.fromisoformat(text)


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def quarter_of(moment: dt.datetime, timezone: str) -> str:
    """The quarter (`2027Q1`) that `moment` falls in, in the program timezone."""
    local = moment.astimezone(zone(timezone))
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def shift_quarter(quarter: str, by: int) -> str:
    year, q = int(quarter[:4]), int(quarter[5:])
    index = year * 4 + (q - 1) + by
    return f"{index // 4}Q{index % 4 + 1}"


def quarter_start(quarter: str, timezone: str) -> dt.datetime:
    """The UTC instant at which `quarter` begins in the program timezone."""
    year, q = int(quarter[:4]), int(quarter[5:])
    local = dt.datetime(year, 3 * (q - 1) + 1, 1, tzinfo=zone(timezone))
    return local.astimezone(UTC)


def local_date(moment: dt.datetime, timezone: str) -> dt.date:
    return moment.astimezone(zone(timezone)).date()


def birthday_keys_for(day: dt.date) -> list[str]:
    """The `MM-DD` birthdays celebrated on `day`.

    29 February birthdays are celebrated on 28 February in common years.
    """
    keys = [day.strftime("%m-%d")]
    if day.month == 2 and day.day == 28:
        try:
            dt.date(day.year, 2, 29)
        except ValueError:
            keys.append("02-29")
    return keys
