"""A fault hook at the AWS client layer, for crash-injection tests.

Every client from `aws.client` carries two botocore event handlers
(`before-call` and `after-call`). They do nothing until a test arms a `Plan`:
then each AWS call is counted and the plan may make the process "die"
(`ProcessDeath`, a BaseException nothing in Dangol catches) just before or just
after the Nth call, or run a callback there (e.g. another whole request while
this one sits between its read and its commit). The use cases and the store
know nothing of it: a crash is injected where a real one would happen, between
AWS round trips.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional


class ProcessDeath(BaseException):
    """The process died here (a Lambda timeout, an out-of-memory kill, a lost host)."""


@dataclass
class Call:
    number: int  # 1-based, in the order the process made them
    service: str  # e.g. "dynamodb", "sqs", "ses"
    operation: str  # e.g. "TransactWriteItems"
    parsed: Any = None  # the parsed answer (after the call)
    request: Any = None  # the request as botocore sends it (its `body`: the JSON text)


@dataclass
class Plan:
    """What happens at the AWS calls while armed.

    die_before / die_after: the call number (1-based) at which the process dies.
    on_call(phase, call): called before ("before") and after ("after") each call;
    raising from it raises from the AWS call."""

    die_before: Optional[int] = None
    die_after: Optional[int] = None
    on_call: Optional[Callable[[str, Call], None]] = None
    calls: list[Call] = field(default_factory=list)

    def before(self, service: str, operation: str, request: Any = None) -> None:
        call = Call(len(self.calls) + 1, service, operation, request=request)
        self.calls.append(call)
        if self.on_call is not None:
            self.on_call("before", call)
        if self.die_before == call.number:
            raise ProcessDeath(f"died before call {call.number} ({service} {operation})")

    def after(self, operation: str, parsed: Any) -> None:
        call = next((c for c in reversed(self.calls) if c.operation == operation), None)
        if call is None:
            return
        call.parsed = parsed
        if self.on_call is not None:
            self.on_call("after", call)
        if self.die_after == call.number:
            raise ProcessDeath(f"died after call {call.number} ({call.service} {operation})")


_armed: Optional[Plan] = None


def arm(plan: Optional[Plan]) -> Optional[Plan]:
    """Arm `plan` (None disarms); returns the plan armed before."""
    global _armed
    previous, _armed = _armed, plan
    return previous


def armed() -> Optional[Plan]:
    return _armed


def _before_call(model, params: Any = None, **_: Any) -> None:
    plan = _armed
    if plan is not None:
        plan.before(model.service_model.service_id.hyphenize(), model.name, params)


def _after_call(model, parsed=None, **_: Any) -> None:
    plan = _armed
    if plan is not None:
        plan.after(model.name, parsed)


def attach(client) -> None:
    """Put the hook on a botocore client (done for every client `aws.client` makes)."""
    client.meta.events.register("before-call", _before_call, unique_id="dangol-faults-before")
    client.meta.events.register("after-call", _after_call, unique_id="dangol-faults-after")
