"""Structured logs and metrics.

Every log record becomes one JSON line (one CloudWatch event, tracebacks
included) carrying the context of the request or message being handled:
correlation id, route, member id. A record never carries a member's name,
email, phone or birthday, nor an API key: the message text is scrubbed of email
addresses, phone numbers and key secrets, fields with those names are dropped,
and an exception is logged as its type, its AWS error code and its stack frames,
never its message text (which may quote an address).

Metrics are CloudWatch embedded-metric-format (EMF) lines in the same log: no
API call, CloudWatch extracts them (namespace `Dangol`, dimension `Stack`).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import os
import re
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Optional

NAMESPACE = "Dangol"
PERSONAL_FIELDS = frozenset(
    {"name", "email", "phone", "birthday", "secret", "authorization", "api_key", "to_addresses", "phone_number"}
)
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "aws_request_id",
}
_EMAIL = re.compile(r"[^\s@'\"<>(),;:]+@[^\s@'\"<>(),;:]+\.[^\s@'\"<>(),;:]+")
_PHONE = re.compile(r"(?<![\w#])\+?\d[\d ().-]{6,}\d(?!\w)")
_SECRET = re.compile(r"dgl_[A-Za-z0-9_-]{8,}")
_CORRELATION = re.compile(r"[A-Za-z0-9._:-]{1,100}")
_context: contextvars.ContextVar[dict] = contextvars.ContextVar(
    "dangol_log_context",
    default={},  # noqa: B039 -- never mutated: scope() sets a new dict
)

log = logging.getLogger("dangol.telemetry")


def scrub(text: str) -> str:
    text = _SECRET.sub("<api key>", text)
    text = _EMAIL.sub("<email>", text)
    return _PHONE.sub("<phone>", text)


# -- context ---------------------------------------------------------------------
def current() -> dict:
    return _context.get()


def bind(**fields: Any) -> None:
    """Add fields to every later record of this request or message."""
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


@contextlib.contextmanager
def scope(**fields: Any) -> Iterator[dict]:
    """A fresh context for one request or message (a new correlation id unless given)."""
    correlation = fields.pop("correlation_id", None) or str(uuid.uuid4())
    token = _context.set({"correlation_id": correlation, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield _context.get()
    finally:
        _context.reset(token)


def correlation_from(header: Optional[str]) -> Optional[str]:
    """A caller's X-Correlation-Id, if it is a plain token."""
    return header if header and _CORRELATION.fullmatch(header) else None


# -- JSON lines ------------------------------------------------------------------
class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        request_id = getattr(record, "aws_request_id", None)
        if request_id:
            entry["request_id"] = request_id
        entry.update(_context.get())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        emf = entry.pop("emf", None)
        for key in list(entry):
            if key.lower() in PERSONAL_FIELDS:
                del entry[key]
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            entry["error_type"] = type(error).__name__
            code = getattr(error, "response", {}) or {}
            own_code = getattr(error, "code", None)
            if isinstance(code, dict) and code.get("Error", {}).get("Code"):
                entry["error_code"] = code["Error"]["Code"]
            elif own_code and isinstance(own_code, str):
                entry["error_code"] = own_code
            # frames only: the exception's message text may quote personal data
            entry["stack"] = "".join(traceback.format_tb(record.exc_info[2]))
        if emf:
            entry.update(emf)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(*loggers: logging.Logger) -> None:
    """JSON on the given loggers' handlers and, inside Lambda, on the root
    logger's (where chalicelib's loggers end up)."""
    formatter = JsonFormatter()
    targets = list(loggers)
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        root = logging.getLogger()
        if not root.handlers:
            root.addHandler(logging.StreamHandler(sys.stdout))
        root.setLevel(logging.INFO)
        targets.append(root)
    for logger in targets:
        for handler in logger.handlers:
            handler.setFormatter(formatter)


# -- metrics ---------------------------------------------------------------------
def emit(values: Mapping[str, float], unit: str = "Count") -> None:
    """One EMF line with these metrics (zeros left out)."""
    values = {k: v for k, v in values.items() if v}
    if not values:
        return
    stack = os.environ.get("DANGOL_STACK", "local")
    emf = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Stack"]],
                    "Metrics": [{"Name": name, "Unit": unit} for name in values],
                }
            ],
        },
        "Stack": stack,
        **values,
    }
    log.info("metrics", extra={"emf": emf})


# Ledger counters (the /stats shard deltas of a committed transaction) -> metrics.
POINT_METRICS = {
    "points_earned": "PointsEarned",
    "points_redeemed": "PointsRedeemed",
    "points_expired": "PointsExpired",
}


def points_moved(actions: list[dict]) -> dict[str, int]:
    """What a committed transaction added to the /stats counters, as metrics."""
    from chalicelib.storage.repository import is_stats_shard  # (telemetry loads before the storage modules)

    moved: dict[str, int] = {}
    for action in actions:
        update = action.get("Update")
        if not update or not is_stats_shard(update.get("Key", {}).get("pk", {}).get("S", "")):
            continue
        names = update.get("ExpressionAttributeNames", {})
        values = update.get("ExpressionAttributeValues", {})
        for placeholder, counter in names.items():
            metric = POINT_METRICS.get(counter)
            value = values.get(":" + placeholder[1:], {}).get("N")
            if metric and value is not None:
                moved[metric] = moved.get(metric, 0) + int(value)
    return moved


def metered_commit(commit: Callable[[Any], None]) -> Callable[[Any], None]:
    def run(unit_of_work: Any) -> None:
        commit(unit_of_work)
        emit(points_moved(getattr(unit_of_work, "actions", [])))

    return run


def metered_delivery(deliver: Callable) -> Callable:
    """Notifications sent / failed, and the notification as the log context."""

    def run(member_id: str, notification_id: str, *args, **kwargs):
        with scope(
            correlation_id=current().get("correlation_id"),
            member_id=member_id,
            notification_id=notification_id,
            **{k: v for k, v in current().items() if k not in ("correlation_id", "member_id")},
        ):
            delivery = deliver(member_id, notification_id, *args, **kwargs)
            if delivery is not None:
                emit(
                    {
                        "NotificationsSent": int(delivery.status == "sent"),
                        "NotificationsFailed": int(delivery.status == "failed"),
                    }
                )
                log.info(
                    "notification %s", delivery.status, extra={"channel": delivery.channel, "status": delivery.status}
                )
            return delivery

    return run
