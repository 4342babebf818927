"""Delivering webhook events (contract §24): fan-out, the dispatcher, the attempts.

Off the request path entirely; loaded by the webhook queue's handler and the
dispatcher only (never at the API's cold start).

1. Fan-out (`fan_out`): a change's events item (chalicelib/webhooks/events.py) is
   read once; for every webhook that subscribes to an event's type and existed when
   the event happened (its `created_at` <= the event's), one delivery item
   `WEBHOOK#<id> / DELIVERY#<event_id>` is written once (`attribute_not_exists`),
   holding the exact body every attempt sends; the events item leaves the
   `webhook-due` index. The same invocation then attempts them (step 2).
2. Attempts (`handle`): a message's deliveries, webhook by webhook, each webhook in a
   thread of its own. An attempt first claims its delivery (pending and due; the claim
   counts the attempt and moves the next attempt `CLAIM_LEASE` ahead, so a worker
   that dies mid-attempt leaves it due again), POSTs the body (10 s timeout, no
   redirects), then records the answer on condition that the claim is still its own.
   2xx: `delivered`. Anything else: the next attempt at the first attempt +
   RETRY_OFFSETS[n] (1 min, 5 min, 30 min, 2 h, 6 h, 12 h, 24 h), after the last one
   `failed`. A manual retry (POST .../retry) makes one more attempt.
3. Isolation per endpoint: a webhook's attempts take one of its `SLOTS` leases
   (`WEBHOOK#<id> / SLOT#<n>`), so a slow receiver holds at most that many workers;
   a message finding none free comes back 5 s later. After `CIRCUIT_THRESHOLD`
   failures in a row the webhook's circuit (`WEBHOOK#<id> / CIRCUIT`) opens for
   30 s, doubling up to 10 min: nothing is sent to it meanwhile (the dispatcher
   leaves its deliveries alone; one that a message brings fails at once,
   CIRCUIT_OPEN, and moves on along its schedule), then one attempt probes and, when
   it fails, the other due ones fail at once. Other webhooks go on.
4. The dispatcher (`dispatch`, scheduled every minute, and `drain_queues` locally)
   finds in the `webhook-due` index what no message is carrying: events items not
   yet fanned out (a lost pointer) and deliveries due (retries, a crashed attempt,
   deliveries held back by a circuit no longer open), and queues them.

Time is `chalicelib.clock` (tests move it); the HTTP sender is injectable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional, Protocol

from chalicelib.domain.calendar import format_instant, parse_instant
from chalicelib.storage.index_pages import IndexPages, Source
from chalicelib.storage.queues import QueueSender
from chalicelib.storage.repository import (
    delivery_key,
    events_key,
    webhook_circuit_key,
    webhook_key,
    webhook_pk,
    webhook_slot_key,
)
from chalicelib.storage.store import WEBHOOK_DUE_INDEX, Store
from chalicelib.webhooks.events import DUE_AT, DUE_KEY, EVENT_SHARDS, KEPT
from chalicelib.webhooks.registry import Webhooks

LOG = logging.getLogger("dangol")

ATTEMPT_TIMEOUT = 10.0  # seconds: a 2xx answer within this is delivered
RETRY_OFFSETS = tuple(
    dt.timedelta(seconds=s) for s in (60, 300, 1800, 7200, 21600, 43200, 86400)
)  # after the first attempt: retries 1..7; the last at 24 h, then `failed`
CLAIM_LEASE = dt.timedelta(minutes=2)  # a claimed attempt not recorded by then is due again
SLOTS = 4  # attempts to one webhook at once, across all workers
SLOT_LEASE = dt.timedelta(seconds=90)  # longer than a group's budget and one attempt
GROUP_BUDGET = 25.0  # seconds one worker gives one webhook before passing the rest on
BUSY_DELAY_SECONDS = 5  # a message that found every slot taken comes back this much later
CIRCUIT_THRESHOLD = 5  # failures in a row that open a webhook's circuit
CIRCUIT_BASE = dt.timedelta(seconds=30)
CIRCUIT_MAX = dt.timedelta(minutes=10)
EVENTS_PER_MESSAGE = 10
DISPATCH_GRACE = dt.timedelta(minutes=1)  # on AWS: leave what a message is carrying alone this long
DISPATCH_LIMIT = 1000  # deliveries queued per webhook and run (the next run goes on)
USER_AGENT = "Dangol-Webhooks/1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`Dangol-Signature`: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def payload(event: dict) -> str:
    """The body every attempt of this event sends: {"event_id", "type", "created_at", "data"}."""
    shown = {k: event[k] for k in ("event_id", "type", "created_at", "data")}
    return json.dumps(shown, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class Answer:
    status: Optional[int]  # None: no HTTP answer (timeout, refused, DNS, TLS)
    seconds: float
    error: Optional[str] = None


class HttpSender(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer: ...


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx is an answer like any other non-2xx: not delivered


class UrllibSender:
    """POST with the standard library: `timeout` seconds, no redirects, no proxies."""

    def __init__(self, timeout: float = ATTEMPT_TIMEOUT):
        self.timeout = timeout
        self.opener = urllib.request.build_opener(_NoRedirects(), urllib.request.ProxyHandler({}))

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        started = time.monotonic()
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                response.read(65536)
                return Answer(response.status, time.monotonic() - started)
        except urllib.error.HTTPError as error:
            error.close()
            return Answer(error.code, time.monotonic() - started)
        except TimeoutError:
            return Answer(None, time.monotonic() - started, "TIMEOUT")
        except Exception as error:  # refused, DNS, TLS: no answer
            reason = getattr(error, "reason", None)
            name = "TIMEOUT" if isinstance(reason, TimeoutError) else type(reason or error).__name__
            return Answer(None, time.monotonic() - started, name)


class WebhookDelivery:
    def __init__(
        self,
        store: Store,
        webhooks: Webhooks,
        queue: QueueSender,
        clock: Callable[[], dt.datetime],
        sender: Optional[HttpSender] = None,
        threads: int = 8,
    ):
        self.store = store
        self.webhooks = webhooks
        self.queue = queue
        self.clock = clock
        self.sender: HttpSender = sender or UrllibSender()
        self.threads = threads
        self.pages = IndexPages(store.client, store.table)

    # -- fan-out -----------------------------------------------------------
    def fan_out(self, events_pk: str, hooks: Optional[list[dict]] = None) -> dict[str, list[str]]:
        """One events item -> a delivery per subscribed webhook (each written once); the
        item leaves the index. Returns the event ids of the deliveries made, by webhook
        (the caller attempts or queues them; should it fail, they are due in the index)."""
        pk, sk = events_pk, events_key("")[1]
        item = self.store.get(pk, sk)
        if item is None or DUE_KEY not in item:
            return {}  # fanned out already
        hooks = self.webhooks.all() if hooks is None else hooks
        made: dict[str, list[str]] = defaultdict(list)
        for event in item["events"]:
            for hook in hooks:
                if event["type"] in hook["events"] and event["created_at"] >= hook["created_at"]:
                    if self._new_delivery(hook, event):
                        made[hook["webhook_id"]].append(event["event_id"])
        # out of the index (never a stub: an item that went meanwhile stays gone)
        self.store.update(pk, sk, "REMOVE #d, #a", {"#d": DUE_KEY, "#a": DUE_AT}, condition="attribute_exists(pk)")
        return dict(made)

    def _new_delivery(self, hook: dict, event: dict) -> bool:
        pk, sk = delivery_key(hook["webhook_id"], event["event_id"])
        created = parse_instant(event["created_at"])
        return self.store.put(
            {
                "pk": pk,
                "sk": sk,
                "webhook_id": hook["webhook_id"],
                "event_id": event["event_id"],
                "type": event["type"],
                "created_at": event["created_at"],
                "body": payload(event),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": event["created_at"],
                DUE_KEY: pk,  # due now: in the webhook's part of the index
                DUE_AT: event["created_at"],
                "expires_at": int((created + KEPT).timestamp()),
            },
            condition="attribute_not_exists(pk)",  # written once: a second fan-out changes nothing
        )

    def send(self, deliveries: dict[str, list[str]], delay: int = 0) -> None:
        messages = [
            {"webhook_id": webhook_id, "event_ids": ids[start : start + EVENTS_PER_MESSAGE]}
            for webhook_id, ids in deliveries.items()
            for start in range(0, len(ids), EVENTS_PER_MESSAGE)
        ]
        if messages:
            self.queue.send(messages, delay)

    # -- the queue handler -----------------------------------------------------
    def handle(self, messages: Iterable[dict]) -> None:
        """A batch of webhook-queue messages: fan-outs first, then each webhook's
        deliveries (those just made included) in a thread of its own."""
        groups: dict[str, list[str]] = defaultdict(list)
        hooks: Optional[list[dict]] = None
        for message in messages:
            if "events" in message:
                hooks = self.webhooks.all() if hooks is None else hooks
                for webhook_id, event_ids in self.fan_out(message["events"], hooks).items():
                    groups[webhook_id].extend(event_ids)
            else:
                groups[message["webhook_id"]].extend(message["event_ids"])
        work = [(w, list(dict.fromkeys(ids))) for w, ids in groups.items()]
        if len(work) == 1:
            self.deliver_group(*work[0])
        elif work:
            with ThreadPoolExecutor(max_workers=min(self.threads, len(work))) as pool:
                for future in [pool.submit(self.deliver_group, w, ids) for w, ids in work]:
                    future.result()

    def deliver_group(self, webhook_id: str, event_ids: list[str]) -> int:
        """Attempt these deliveries of one webhook (each if due); returns how many were attempted.

        While the webhook's circuit is open nothing is sent to it: each due delivery's
        attempt fails at once (`last_error` CIRCUIT_OPEN) and moves on along its own
        schedule, so a dead receiver's deliveries still end `failed` in time. Once the
        back-off is over, the first attempt probes: a success closes the circuit, a
        failure opens it again for twice as long."""
        hook = self.store.get(*webhook_key(webhook_id))
        if hook is None:
            return 0  # deleted: its deliveries expire
        circuit = self.store.get(*webhook_circuit_key(webhook_id)) or {}
        is_open = circuit.get("open_until", "") > format_instant(self.clock())
        failures = int(circuit.get("failures") or 0)
        slot = None if is_open else self._claim_slot(webhook_id)
        if slot is None and not is_open:
            self.send({webhook_id: event_ids}, BUSY_DELAY_SECONDS)
            return 0
        attempted = 0
        started = time.monotonic()
        try:
            for index, event_id in enumerate(event_ids):
                if time.monotonic() - started > GROUP_BUDGET:
                    self.send({webhook_id: event_ids[index:]})
                    break
                delivered = self.attempt(hook, event_id, send=not is_open)
                if delivered is None:
                    continue
                attempted += 1
                if is_open:
                    continue
                if delivered and failures:
                    self._close_circuit(webhook_id)
                    failures = 0
                elif not delivered:
                    failures = self._count_failure(webhook_id)
                    is_open = failures >= CIRCUIT_THRESHOLD  # the rest fail at once
        finally:
            if slot is not None:
                self._release_slot(*slot)
        return attempted

    def attempt(self, hook: dict, event_id: str, send: bool = True) -> Optional[bool]:
        """One attempt of one delivery: True delivered, False not, None not due (or not
        pending). `send=False`: the circuit is open, the attempt fails without a request."""
        webhook_id = hook["webhook_id"]
        pk, sk = delivery_key(webhook_id, event_id)
        now = self.clock()
        now_text = format_instant(now)
        lease = format_instant(now + CLAIM_LEASE)
        claimed = self.store.update(
            pk,
            sk,
            "SET #n = #n + :one, #last = :now, #next = :lease, #at = :lease, #first = if_not_exists(#first, :now)",
            {
                "#n": "attempts",
                "#last": "last_attempt_at",
                "#next": "next_attempt_at",
                "#at": DUE_AT,
                "#first": "first_attempt_at",
                "#s": "status",
            },
            {":one": 1, ":now": now_text, ":lease": lease, ":pending": "pending"},
            condition="#s = :pending AND #next <= :now",
        )
        if claimed is None:
            return None
        number = int(claimed["attempts"])
        send = send or bool(claimed.get("manual"))  # a retry by hand is sent, circuit or not
        if not send:
            answer = Answer(None, 0.0, "CIRCUIT_OPEN")
        else:
            body = claimed["body"].encode()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Dangol-Event-Id": event_id,
                "Dangol-Signature": signature(hook["secret"], int(now.timestamp()), body),
            }
            answer = self.sender.post(hook["url"], body, headers)
            if answer.status is not None and answer.seconds > ATTEMPT_TIMEOUT:
                answer = Answer(answer.status, answer.seconds, "TOO_SLOW")
        delivered = answer.status is not None and 200 <= answer.status < 300 and answer.error is None
        self._record(pk, sk, claimed, number, answer, delivered)
        return delivered

    def _record(self, pk: str, sk: str, claimed: dict, number: int, answer: Answer, delivered: bool) -> None:
        names = {"#n": "attempts", "#code": "last_status_code", "#err": "last_error"}
        values: dict[str, Any] = {":n": number}
        sets, removes = [], []
        if answer.status is None:
            removes.append("#code")  # no HTTP answer: no status code
        else:
            sets.append("#code = :code")
            values[":code"] = answer.status
        if answer.error is None:
            removes.append("#err")
        else:
            sets.append("#err = :err")  # TIMEOUT, a connection error's name, CIRCUIT_OPEN, TOO_SLOW
            values[":err"] = answer.error
        next_at = None if delivered else next_attempt(claimed, number)
        if next_at is None:
            names.update({"#s": "status", "#d": DUE_KEY, "#at": DUE_AT, "#m": "manual"})
            values[":done"] = "delivered" if delivered else "failed"
            sets.append("#s = :done")
            removes += ["#d", "#at", "#m"]  # out of the index: nothing more to do
        else:
            names.update({"#next": "next_attempt_at", "#at": DUE_AT})
            values[":next"] = format_instant(next_at)
            sets += ["#next = :next", "#at = :next"]
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        # the claim is still this attempt's (a late answer after a re-claim changes nothing)
        if self.store.update(pk, sk, expression, names, values, condition="#n = :n") is None:
            LOG.info("webhook delivery %s: attempt %d was overtaken", sk, number)

    # -- isolation ---------------------------------------------------------------
    def _claim_slot(self, webhook_id: str) -> Optional[tuple[str, str, str]]:
        now = self.clock()
        token = secrets.token_hex(8)
        for slot in range(SLOTS):
            pk, sk = webhook_slot_key(webhook_id, slot)
            taken = self.store.update(
                pk,
                sk,
                "SET #l = :until, #o = :token",
                {"#l": "lease_until", "#o": "owner"},
                {":until": format_instant(now + SLOT_LEASE), ":token": token, ":now": format_instant(now)},
                condition="attribute_not_exists(#l) OR #l < :now",
            )
            if taken is not None:
                return pk, sk, token
        return None

    def _release_slot(self, pk: str, sk: str, token: str) -> None:
        self.store.update(
            pk, sk, "REMOVE #l, #o", {"#l": "lease_until", "#o": "owner"}, {":token": token}, condition="#o = :token"
        )

    def _count_failure(self, webhook_id: str) -> int:
        pk, sk = webhook_circuit_key(webhook_id)
        state = self.store.update(pk, sk, "ADD #f :one", {"#f": "failures"}, {":one": 1}) or {}
        failures = int(state.get("failures") or 0)
        if failures >= CIRCUIT_THRESHOLD:
            back_off = min(CIRCUIT_BASE * 2 ** min(failures - CIRCUIT_THRESHOLD, 10), CIRCUIT_MAX)
            until = format_instant(self.clock() + back_off)
            self.store.update(pk, sk, "SET #o = :until", {"#o": "open_until"}, {":until": until})
            LOG.warning("webhook %s: %d failures in a row, backing off until %s", webhook_id, failures, until)
        return failures

    def _close_circuit(self, webhook_id: str) -> None:
        pk, sk = webhook_circuit_key(webhook_id)
        self.store.update(pk, sk, "SET #f = :zero REMOVE #o", {"#f": "failures", "#o": "open_until"}, {":zero": 0})

    # -- the dispatcher ------------------------------------------------------------
    def dispatch(self, grace: dt.timedelta = DISPATCH_GRACE, limit: int = DISPATCH_LIMIT) -> dict[str, int]:
        """Fan out the events items whose pointer was lost, and queue every delivery
        due (for longer than `grace`) of every webhook not backing off (its circuit open:
        its due deliveries wait for the back-off to end, then the first probes and, should
        it fail, the others fail at once and move on along their schedules)."""
        now = self.clock()
        upto = format_instant(now - grace)
        hooks = self.webhooks.all()
        counts = {"fanned_out": 0, "queued": 0, "backing_off": 0}
        waiting = [key for shard in range(EVENT_SHARDS) for key in self._due(f"EVENTS#{shard}", upto, None)]
        for pk, _ in waiting:
            self.fan_out(pk, hooks)  # its deliveries are due now: queued below with the others
            counts["fanned_out"] += 1
        for hook in hooks:
            webhook_id = hook["webhook_id"]
            circuit = self.store.get(*webhook_circuit_key(webhook_id)) or {}
            if circuit.get("open_until", "") > format_instant(now):
                counts["backing_off"] += 1  # its due deliveries are queued once the back-off is over
                continue
            due = [sk.partition("#")[2] for _, sk in self._due(webhook_pk(webhook_id), upto, limit)]
            self.send({webhook_id: due})
            counts["queued"] += len(due)
        return counts

    def _due(self, partition: str, upto: str, limit: Optional[int]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        start = None
        source = Source(WEBHOOK_DUE_INDEX, DUE_KEY, partition, DUE_AT, upto)
        while True:
            keys, start = self.pages.page(source, 500 if limit is None else min(500, limit - len(found)), start)
            found.extend(keys)
            if start is None or (limit is not None and len(found) >= limit):
                return found


def next_attempt(delivery: dict, number: int) -> Optional[dt.datetime]:
    """When attempt `number` + 1 is due (from the first attempt), or None: it was the last."""
    if delivery.get("manual") or number > len(RETRY_OFFSETS):
        return None
    return parse_instant(delivery["first_attempt_at"]) + RETRY_OFFSETS[number - 1]
