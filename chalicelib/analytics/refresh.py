"""Job `refresh_analytics` (§17-§23): bring the facts up to date, run the queries, store the results.

`refresh(engine, store, now)`:
1. `as_of` = `now` (the time the refresh started); the program timezone gives `as_of`'s date;
2. the facts are brought up to date (`update_facts(engine)`, when the facts module is present);
3. the queries of queries/*.sql run on `engine` (its dialect: "duckdb" or "athena");
4. the results are stored (results.py), writing to a member only what changed, and
   ANALYTICS / REFRESH last.

An engine is anything with `dialect` ("duckdb" | "athena") and `query(text) -> list[dict]`
(one dict per row, by column name; values as the engine gives them, Athena's as text).
Rates are exact decimal strings with 4 places, half away from zero; averages floored.
"""

from __future__ import annotations

import datetime as dt
import gc
import importlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Protocol

from chalicelib import clock
from chalicelib.analytics import campaign_results, results, sql
from chalicelib.domain.calendar import format_instant, zone
from chalicelib.domain.rfm import thresholds_of
from chalicelib.domain.segments import RFM_SEGMENTS, MemberValues, assigner
from chalicelib.ledger.programs import program_from
from chalicelib.storage import repository as keys
from chalicelib.storage.store import Store

LOG = logging.getLogger("dangol")

SUMMARY_DAYS = (7, 30, 90, 365)
SUMMARY_COLUMNS = (
    "members_at_end",
    "new_members",
    "active_members",
    "repeat_members",
    "purchases",
    "purchase_amount",
    "points_earned",
    "points_redeemed",
    "points_expired",
    "coupons_issued",
    "coupons_used",
)
MONTHS_KEPT = 36  # summaries and cohorts of at most the last 36 months
STATE_CHUNK = 1_000  # members whose stored state is read (BatchGetItem) and compared at a time
WINDOW_DAYS = 365  # frequency, monetary, bought_*: the 365 dates ending with as_of's date


class Engine(Protocol):
    dialect: str

    def query(self, text: str) -> list[dict]: ...


# -- exact arithmetic --------------------------------------------------
def rate(numerator: int, denominator: int) -> Optional[str]:
    """numerator / denominator as a string with exactly 4 places, rounded half away from
    zero ("0.3333", "-0.0867", "0.5000"); None when the denominator is 0."""
    if denominator == 0:
        return None
    negative = (numerator < 0) != (denominator < 0)
    quotient, remainder = divmod(abs(numerator) * 10_000, abs(denominator))
    if 2 * remainder >= abs(denominator):
        quotient += 1
    whole, places = divmod(quotient, 10_000)
    sign = "-" if negative and quotient else ""
    return f"{sign}{whole}.{places:04d}"


def floored_average(total: int, count: int) -> int:
    return total // count if count else 0


# -- months ------------------------------------------------------------
def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def month_text(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_bounds(index: int) -> tuple[dt.date, dt.date]:
    first = dt.date(index // 12, index % 12 + 1, 1)
    following = month_index(first) + 1
    return first, dt.date(following // 12, following % 12 + 1, 1) - dt.timedelta(days=1)


# -- engine values -----------------------------------------------------
def _int(value: Any) -> Optional[int]:
    return None if value is None else int(value)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _date(value: Any) -> Optional[dt.date]:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def run(engine: Engine, name: str, **values: object) -> list[dict]:
    dialect = getattr(engine, "dialect", "duckdb")
    return engine.query(sql.render(name, dialect, **values))


def run_ahead(engine: Engine, name: str, beside: bool = False, **values: object) -> Callable[[], Iterable[dict]]:
    """Start a query now, to run beside the refresh's next work where the engine can (its
    `submit`: DuckDB on a connection of its own, Athena as one more query execution); the
    function returned gives its rows (a stream). An engine without `submit` runs the query
    when the function is called. `beside`: the refresh works in Python while it runs (the
    embedded engine leaves it a core)."""
    return _ahead(engine, sql.render(name, getattr(engine, "dialect", "duckdb"), **values), beside)


def run_windows_ahead(
    engine: Engine, name: str, windows: list[tuple[dt.date, dt.date]], **values: object
) -> Callable[[], Iterable[dict]]:
    """A query over date windows (summary.sql), all of them at once (one row per window),
    started now as `run_ahead` starts a query (beside the refresh's Python work)."""
    text = sql.render_windows(name, getattr(engine, "dialect", "duckdb"), windows, **values)
    return _ahead(engine, text, beside=True)


def _ahead(engine: Engine, text: str, beside: bool = False) -> Callable[[], Iterable[dict]]:
    submit = getattr(engine, "submit", None)
    if submit is None:
        return lambda: engine.query(text)
    rows: Callable[[], Iterable[dict]] = submit(text, beside=beside)
    return rows


def run_named_ahead(
    engine: Engine, name: str, named: list[tuple[str, str]], **values: object
) -> Callable[[], Iterable[dict]]:
    """member_bought.sql for only the categories / skus named (rows of those values alone),
    started now as `run_ahead` starts a query."""
    return _ahead(engine, sql.render_named(name, getattr(engine, "dialect", "duckdb"), named, **values))


def named_bought_values(definitions: dict[str, list]) -> list[tuple[str, str]]:
    """The ("category" | "sku", value) pairs the segments' bought_category / bought_sku rules name."""
    fields = {"bought_category": "category", "bought_sku": "sku"}
    return sorted(
        {
            (fields[rule["field"]], str(rule["value"]))
            for rules in definitions.values()
            for rule in rules
            if rule.get("field") in fields
        }
    )


def update_facts_if_present(engine: Engine) -> bool:
    """Step 1, for the embedded engine: feed it every change committed to the table's stream
    (chalicelib/analytics/local.py). On AWS the stream function has sent them through
    Firehose already (Athena reads them from S3): nothing to do here."""
    if getattr(engine, "dialect", "duckdb") != "duckdb" or not hasattr(engine, "append"):
        return False
    from chalicelib.analytics.local import update_facts

    update_facts(engine)
    return True


# -- the computations ---------------------------------------------------
def summary_answer(row: dict, as_of: str, first: dt.date, last: dt.date) -> dict:
    counts = {name: int(row.get(name) or 0) for name in SUMMARY_COLUMNS}
    return {
        "as_of": as_of,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "members_at_end": counts["members_at_end"],
        "new_members": counts["new_members"],
        "active_members": counts["active_members"],
        "repeat_members": counts["repeat_members"],
        "active_rate": rate(counts["active_members"], counts["members_at_end"]),
        "repeat_rate": rate(counts["repeat_members"], counts["active_members"]),
        "purchases": counts["purchases"],
        "purchase_amount": counts["purchase_amount"],
        "average_order_value": floored_average(counts["purchase_amount"], counts["purchases"]),
        "points_earned": counts["points_earned"],
        "points_redeemed": counts["points_redeemed"],
        "points_expired": counts["points_expired"],
        "redemption_rate": rate(counts["points_redeemed"], counts["points_earned"]),
        "breakage_rate": rate(counts["points_expired"], counts["points_earned"]),
        "coupons_issued": counts["coupons_issued"],
        "coupons_used": counts["coupons_used"],
    }


# What decides whether a member's INSIGHTS item is rewritten: the values that change only when
# the member's purchases do. recency_days grows every day for everyone and the RFM scores move
# with the quintile boundaries; the API derives both at read time (chalicelib/ledger/
# analytics_views.py) from last_purchase_date and the boundaries stored with ANALYTICS / RFM,
# so the item's own recency_days / rfm / rfm_segment are as of the item's `as_of`.
INSIGHTS_COMPARED = ("last_purchase_date", "frequency", "monetary", "clv")


class LiveMember(NamedTuple):
    """A live member's values in a refresh (immutable; a named tuple: a refresh makes a million)."""

    generation: int
    values: MemberValues
    rfm: Optional[dict]  # {"r", "f", "m"}; None: unscored
    last_purchase_date: Optional[str] = None  # ISO date; None: never purchased

    @property
    def insights(self) -> dict:
        """The §20 values of the INSIGHTS item (as_of apart)."""
        values = self.stored
        del values["last_purchase_date"]
        return values

    @property
    def stored(self) -> dict:
        """The INSIGHTS item's values: the §20 values and the latest purchase date."""
        values = self.values
        return {
            "recency_days": values.recency_days,
            "frequency": values.frequency,
            "monetary": values.monetary,
            "clv": values.clv,
            "rfm": self.rfm,
            "rfm_segment": values.rfm_segment,
            "last_purchase_date": self.last_purchase_date,
        }


def insights_changed(stored: Optional[dict], now: dict) -> bool:
    """Whether the member's INSIGHTS item must be rewritten: `stored` (None: none) and `now`
    (`LiveMember.stored`) differ in INSIGHTS_COMPARED."""
    if stored is None:
        return True
    return any(stored.get(name) != now[name] for name in INSIGHTS_COMPARED)


def rfm_thresholds(members: list[LiveMember]) -> dict[str, dict]:
    """Per letter, the least value reaching each score (chalicelib/domain/rfm.py)."""
    scored = [live for live in members if live.rfm is not None]
    scores = {id(live): live.rfm or {} for live in scored}
    values = {
        "r": lambda live: live.last_purchase_date,
        "f": lambda live: live.values.frequency,
        "m": lambda live: live.values.monetary,
    }
    return {
        letter: thresholds_of((value(live), scores[id(live)][letter]) for live in scored)
        for letter, value in values.items()
    }


NONE: frozenset = frozenset()  # one empty set shared by the members who bought none of the named values


YOUNG_EVERY = 10_000  # members' values made between two collections of the young objects


def collect_young() -> None:
    """Collect the youngest objects' reference cycles (generations 0 and 1). A refresh turns
    Python's own collections off while it runs (`refresh`) and calls this between chunks of
    work: its members' values live for the whole refresh, and each full collection walked them
    all again (at a million members ~30 of them, ~16 s of a ~120 s refresh). A young collection
    walks only what was made since the last one."""
    gc.collect(1)


def live_members(rows: Iterable[dict], bought: Iterable[dict]) -> dict[str, LiveMember]:
    """member_id -> its values, for the members not erased (the newest generation of an id)."""
    categories: dict[tuple[str, int], set] = defaultdict(set)
    skus: dict[tuple[str, int], set] = defaultdict(set)
    for row in bought:
        key = (row["member_id"], int(row["generation"]))
        if row.get("category") is not None:
            categories[key].add(row["category"])
        if row.get("sku") is not None:
            skus[key].add(row["sku"])
    members: dict[str, LiveMember] = {}
    for count, row in enumerate(rows, 1):
        if count % YOUNG_EVERY == 0:
            collect_young()
        key = (row["member_id"], int(row["generation"]))
        if row["member_id"] in members and members[row["member_id"]].generation > key[1]:
            continue
        values = MemberValues(  # in its fields' order (a named tuple made positionally is quicker)
            row["member_id"],
            _int(row["recency_days"]),
            int(row["frequency"]),
            int(row["monetary"]),
            int(row["clv"]),
            int(row["balance"] or 0),
            int(row["days_since_joined"]),
            row["tier"],
            row["rfm_segment"],
            _bool(row["dormant"]),
            frozenset(categories[key]) if key in categories else NONE,
            frozenset(skus[key]) if key in skus else NONE,
        )
        rfm = None if row["r"] is None else {"r": int(row["r"]), "f": int(row["f"]), "m": int(row["m"])}
        last = _date(row.get("last_purchase_date"))
        members[row["member_id"]] = LiveMember(key[1], values, rfm, None if last is None else last.isoformat())
    return members


def rfm_table(members: list[MemberValues], as_of: str) -> dict:
    items = []
    for name in RFM_SEGMENTS:
        chosen = [m for m in members if m.rfm_segment == name]
        items.append(
            {
                "rfm_segment": name,
                "members": len(chosen),
                "avg_monetary": floored_average(sum(m.monetary for m in chosen), len(chosen)),
                "avg_clv": floored_average(sum(m.clv for m in chosen), len(chosen)),
            }
        )
    return {"as_of": as_of, "items": items}


RECOMMENDATIONS_KEPT = 10  # §23: at most 10 skus per list


@dataclass(frozen=True)
class Recommendations:
    """The §23 lists of one refresh (query `recommendations`)."""

    members: dict[tuple[str, int], list[dict]]  # every live buyer in the window -> its list (maybe [])
    erased: set[tuple[str, int]]  # erased members: no list
    cold: list[dict]  # the cold-start list


def recommendation_lists(rows: list[dict]) -> Recommendations:
    """The query's rows (in any order) as lists of {"sku", "category", "score"}."""
    members: dict[tuple[str, int], list[dict]] = {}
    erased: set[tuple[str, int]] = set()
    cold: list[dict] = []
    ordered = sorted(
        rows, key=lambda r: (r["list"], r["member_id"] or "", _int(r["generation"]) or 0, _int(r["rank"]) or 0)
    )
    for kind, key, entries in recommendation_groups(ordered):
        if kind == "cold" or key is None:
            cold = results.entry_items(entries)
        elif kind == "erased":
            erased.add(key)
        else:
            members[key] = results.entry_items(entries)
    return Recommendations(members, erased, cold)


def picked_entries(picks: Optional[str], catalogue: dict[str, results.ListedSku]) -> results.Entries:
    """A member's `picks` ("sku_no:score,..." in rank order; None: no list) as its entries
    (`catalogue`: by sku number as written in the picks)."""
    if not picks:
        return []
    parts = picks.replace(",", ":").split(":", 2 * RECOMMENDATIONS_KEPT)[: 2 * RECOMMENDATIONS_KEPT]
    numbers = iter(parts)  # number, score, number, score, ...
    return [(catalogue[number], int(score)) for number, score in zip(numbers, numbers, strict=True)]


def recommendation_groups(rows: Iterable[dict]) -> Iterator[tuple[str, Optional[tuple[str, int]], results.Entries]]:
    """The query's rows, in its order (catalogue, cold, erased, member; members by member_id,
    generation), as one (list, member key, entries) per list: ("cold", None, entries) once,
    ("erased", key, []) and ("member", key, entries (maybe [])), read once (the rows may be a
    stream; memory: the catalogue of skus, not the members)."""
    catalogue: dict[str, results.ListedSku] = {}
    cold: results.Entries = []
    cold_given = False
    for row in rows:
        kind = row["list"]
        if kind == "catalogue":
            catalogue[str(int(row["rank"]))] = results.listed_sku(row["sku"], row["category"])
            continue
        if kind == "cold":
            if len(cold) < RECOMMENDATIONS_KEPT:
                cold.append((results.listed_sku(row["sku"], row["category"]), int(row["score"])))
            continue
        if not cold_given:
            cold_given = True
            yield "cold", None, cold
        key = (row["member_id"], int(row["generation"]))
        if kind == "erased":
            yield "erased", key, []
        else:
            yield "member", key, picked_entries(row.get("picks"), catalogue)
    if not cold_given:
        yield "cold", None, cold


def store_recommendations(
    store: Store, rows: Iterable[dict], live: dict[str, LiveMember], as_of: str, writes: results.Writes
) -> Counter:
    """A live buyer's item put when its items changed; deleted for a member who no longer
    bought anything in the window or is erased; the cold-start list put every refresh.
    `rows` are the query's (a stream, in its order), handled STATE_CHUNK members at a time:
    their previous items read with BatchGetItem, compared, written. Then the live members
    that had no row (bought nothing in the window): their items read and deleted where found.
    Never a Scan; memory: a chunk's lists and the set of member keys seen. Returns how many
    puts changed the skus or their order (`reordered`) and how many only scores (`rescored`)."""
    changes: Counter = Counter()
    cold: list[dict] = []
    seen: set[tuple[str, int]] = set()
    chunk: list[tuple[tuple[str, int], Optional[results.Entries]]] = []
    for kind, key, entries in recommendation_groups(rows):
        if kind == "cold" or key is None:
            cold = results.entry_items(entries[:RECOMMENDATIONS_KEPT])
            continue
        seen.add(key)
        chunk.append((key, entries if kind == "member" else None))
        if len(chunk) >= STATE_CHUNK:
            _write_recommendation_changes(store, chunk, as_of, writes, changes)
            chunk = []
            collect_young()
    _write_recommendation_changes(store, chunk, as_of, writes, changes)
    others = sorted((member_id, m.generation) for member_id, m in live.items() if (member_id, m.generation) not in seen)
    for offset in range(0, len(others), STATE_CHUNK):
        gone: list[tuple[tuple[str, int], Optional[results.Entries]]] = [
            (key, None) for key in others[offset : offset + STATE_CHUNK]
        ]
        _write_recommendation_changes(store, gone, as_of, writes, changes)
    results.put_cold_recommendations(store, cold, as_of, writes)
    return changes


def _write_recommendation_changes(
    store: Store,
    chunk: list[tuple[tuple[str, int], Optional[results.Entries]]],
    as_of: str,
    writes: results.Writes,
    changes: Counter,
) -> None:
    """Each (member key, entries or None: no list) against what is stored: put when changed
    (counted in `changes` as `reordered` when its skus or their order changed, else
    `rescored`), deleted when stored and now none."""
    if not chunk:
        return
    before = results.read_recommendation_digests(store, [key for key, _ in chunk])
    for (member_id, generation), entries in chunk:
        if entries is None:
            if (member_id, generation) in before:
                results.delete_recommendations(store, member_id, generation, writes)
            continue
        digests = results.entry_digests(entries)
        previous = before.get((member_id, generation))
        if previous != digests:
            results.put_recommendations(store, member_id, generation, entries, as_of, writes, digests)
            same = previous is not None and previous[1] == digests[1]
            changes["rescored" if same else "reordered"] += 1


def cohort_answers(rows: list[dict], as_of_month: int) -> dict[str, dict]:
    sizes: dict[int, int] = {}
    active: dict[tuple[int, int], int] = {}
    for row in rows:
        cohort = int(row["cohort"])
        if row["k"] is None:
            sizes[cohort] = int(row["members"])
        else:
            active[(cohort, int(row["k"]))] = int(row["members"])
    answers = {}
    for cohort in sorted(sizes):
        if not as_of_month - MONTHS_KEPT < cohort <= as_of_month or sizes[cohort] == 0:
            continue
        answers[month_text(cohort)] = {
            "cohort": month_text(cohort),
            "members": sizes[cohort],
            "active": [active.get((cohort, k), 0) for k in range(as_of_month - cohort + 1)],
        }
    return answers


# -- the job -------------------------------------------------------------
def refresh(engine: Engine, store: Store, now: dt.datetime, writers: int = 1) -> dict:
    """One refresh as of `now`; returns what it did (counts of rows and writes). `writers`:
    threads sending the member items' BatchWriteItem requests (the deployment's
    `refresh_writers`). Python's automatic collections are off while it runs (the refresh
    collects young objects between chunks of work: `collect_young`) and back on when it ends."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _refresh(engine, store, now, writers)
    finally:
        if collecting:
            gc.enable()


def _refresh(engine: Engine, store: Store, now: dt.datetime, writers: int) -> dict:
    now = now.astimezone(dt.UTC).replace(microsecond=0)
    as_of = format_instant(now)
    program = program_from(store.get(*keys.PROGRAM_KEY))
    as_of_date = now.astimezone(zone(program.timezone)).date()
    as_of_time = now
    window_start = as_of_date - dt.timedelta(days=WINDOW_DAYS - 1)
    facts_updated = update_facts_if_present(engine)

    # segments: the listing holds every definition's rules
    listing = results.segment_listing(store)
    definitions = {item["sk"]: item.get("rules") or [] for item in listing}

    # the summary's windows: every month since the program started (at most MONTHS_KEPT) and the
    # day windows
    as_of_month = month_index(as_of_date)
    first = _date((run(engine, "program_start", as_of_time=as_of_time) or [{}])[0].get("first_enrolled_date"))
    windows: list[tuple[tuple[str, str], dt.date, dt.date]] = []
    if first is not None:
        for index in range(max(month_index(first), as_of_month - MONTHS_KEPT + 1), as_of_month + 1):
            start, end = month_bounds(index)
            windows.append((keys.summary_month_key(month_text(index)), start, min(end, as_of_date)))
    for days in SUMMARY_DAYS:
        windows.append((keys.summary_days_key(days), as_of_date - dt.timedelta(days=days - 1), as_of_date))

    # every query starts now, in the order the refresh reads their rows: the embedded engine runs
    # them one after another on a connection of its own, beside the refresh's Python work (the
    # members' values first, so that this work starts as soon as it can: it is the longest part);
    # Athena runs them all at once
    bought = run_named_ahead(
        engine,
        "member_bought",
        named_bought_values(definitions),
        as_of_time=as_of_time,
        as_of_date=as_of_date,
        window_start=window_start,
    )
    rows = run_ahead(engine, "member_values", as_of_time=as_of_time, as_of_date=as_of_date, window_start=window_start)
    # the rest run while the refresh works in Python: the embedded engine leaves it a core
    recommendations = run_ahead(
        engine,
        "recommendations",
        beside=True,
        as_of_time=as_of_time,
        as_of_date=as_of_date,
        window_start=window_start,
    )
    cohort_rows = run_ahead(engine, "cohorts", beside=True, as_of_time=as_of_time, as_of_date=as_of_date)
    # every month summary and every day window: one query (the facts read and deduplicated once)
    summary_rows = run_windows_ahead(
        engine, "summary", [(start, end) for _, start, end in windows], as_of_time=as_of_time
    )
    members = live_members(rows(), bought())
    writes = results.Writes(senders=writers)
    assign_member = assigner(definitions)
    assigned = {member_id: assign_member(live.values) for member_id, live in members.items()}

    # members: INSIGHTS and profile `segments`, only when changed; their stored state read a
    # chunk of members at a time (memory: a chunk's items, not every member's)
    gone_segments: set[str] = set()
    rescored = 0  # items not rewritten whose stored scores the new boundaries moved (read exact)
    ordered = sorted(members.items())
    for offset in range(0, len(ordered), STATE_CHUNK):
        chunk = ordered[offset : offset + STATE_CHUNK]
        states = results.read_member_states(store, [(member_id, live.generation) for member_id, live in chunk])
        rescored += _write_member_changes(store, chunk, states, definitions, assigned, gone_segments, as_of, writes)
        collect_young()

    # segment member items: put / deleted on change; a member no longer live leaves every segment
    leavers: set[str] = set()
    figures = {}
    members_of: dict[str, set[str]] = defaultdict(set)  # each segment's members, in one pass
    for member_id, ids in assigned.items():
        for segment_id in ids:
            members_of[segment_id].add(member_id)
    for segment_id in sorted(set(definitions) | gone_segments):
        before = results.segment_members(store, segment_id)
        after = members_of.get(segment_id, set())
        for member_id in sorted(after - before):
            results.put_segment_member(store, segment_id, member_id, writes)
        for member_id in sorted(before - after):
            results.delete_segment_member(store, segment_id, member_id, writes)
            if member_id not in members:
                leavers.add(member_id)
        if segment_id in definitions:
            clvs = [members[m].values.clv for m in after]
            figures[segment_id] = (len(after), floored_average(sum(clvs), len(clvs)))
    for member_id in sorted(leavers):  # erased since the last refresh: its profile lists no segment
        generation = _profile_generation(store, member_id)
        if generation is not None:
            results.set_profile_segments(store, member_id, generation, [], writes, erased_only=True)
    for segment_id, (count, avg_clv) in figures.items():
        results.set_segment_figures(store, segment_id, count, avg_clv, as_of, writes)

    # §23 recommendations: a member's item only when changed; the cold-start list each refresh
    recommendation_changes = store_recommendations(
        store,
        recommendations(),
        members,
        as_of,
        writes,
    )

    # §22 campaign results: every campaign's arms and comparisons, one item per campaign
    campaigns = campaign_results.refresh_campaigns(
        engine, store, program.timezone, as_of, as_of_time, as_of_date, writes
    )

    # program-wide answers
    values_list = [live.values for live in members.values()]
    thresholds = rfm_thresholds(list(members.values()))
    results.put_analytics(
        store, keys.analytics_rfm_key(), {**rfm_table(values_list, as_of), "thresholds": thresholds}, writes
    )
    cohorts = cohort_answers(list(cohort_rows()), as_of_month)
    results.replace_analytics_prefix(
        store,
        keys.COHORT_PREFIX,
        {keys.cohort_key(month): answer for month, answer in cohorts.items()},
        writes,
    )
    found = list(summary_rows())
    by_window = {int(row["window_id"]): row for row in found}
    answers = {
        key: summary_answer(by_window.get(i, {}), as_of, start, end) for i, (key, start, end) in enumerate(windows)
    }
    months = {key: answer for key, answer in answers.items() if key[1].startswith(keys.SUMMARY_MONTH_PREFIX)}
    results.replace_analytics_prefix(store, keys.SUMMARY_MONTH_PREFIX, months, writes)
    for key, answer in answers.items():
        if key not in months:
            results.put_analytics(store, key, answer, writes)

    writes.flush()  # every member item sent before the refresh item says the refresh is done
    finished_at = format_instant(clock.now())
    report = {
        "as_of": as_of,
        "finished_at": finished_at,
        "facts_updated": facts_updated,
        "members": len(members),
        "segments": len(definitions),
        "campaigns": campaigns,
        "writes": dict(sorted(writes.counts.items())),
    }
    results.put_analytics(store, keys.analytics_refresh_key(), report, writes)
    LOG.info("refresh_analytics: %s", report)
    return {
        **report,
        "member_writes": writes.member_writes,
        "batch_write_requests": writes.batch_requests,
        "rescored_not_rewritten": rescored,
        "recommendations_reordered": recommendation_changes["reordered"],
        "recommendations_rescored": recommendation_changes["rescored"],
    }


def _write_member_changes(
    store: Store,
    chunk: list[tuple[str, LiveMember]],
    states: dict,
    definitions: dict,
    assigned: dict,
    gone_segments: set[str],
    as_of: str,
    writes: results.Writes,
) -> int:
    """A chunk of members' INSIGHTS and profile `segments`, written where changed; returns how
    many were rescored but not rewritten."""
    rescored = 0
    defined = definitions.keys()
    for member_id, live in chunk:
        state = states[(member_id, live.generation)]
        now = live.stored
        if insights_changed(state.insights, now):
            results.put_insights(store, member_id, live.generation, now, as_of, writes)
        elif state.insights is not None and state.insights.get("rfm") != live.rfm:
            rescored += 1
        if state.segments is not None:
            if not defined >= set(state.segments):
                gone_segments.update(set(state.segments) - defined)
            if state.segments != assigned[member_id]:
                results.set_profile_segments(store, member_id, live.generation, assigned[member_id], writes)
    return rescored


def _profile_generation(store: Store, member_id: str) -> Optional[int]:
    profile = store.get(*keys.profile_key(member_id))
    return None if profile is None else int(profile.get("generation", 0))


def current_engine() -> Engine:
    """The engine of this deployment, from the engine module (chalicelib/analytics/engine.py):
    its `engine_for(settings)` when it has one, else a `DuckDBEngine()`."""
    from chalicelib import settings

    try:
        engines = importlib.import_module("chalicelib.analytics.engine")
    except ImportError as error:
        raise RuntimeError("no analytics engine: chalicelib/analytics/engine.py is missing") from error
    factory = getattr(engines, "engine_for", None)
    if factory is not None:
        return factory(settings.load())
    return engines.DuckDBEngine()


def run_job(store: Store, now: dt.datetime) -> dict:
    """The `refresh_analytics` job message: one refresh as of `now` on this deployment's engine."""
    from chalicelib import settings

    return refresh(current_engine(), store, now, settings.load().refresh_writers)
