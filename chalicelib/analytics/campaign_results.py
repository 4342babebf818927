"""§22 campaign results, computed by the refresh (never on the request path).

For every campaign of the listing (CAMPAIGNS / <campaign_id>), one query (queries/
campaign_results.sql) counts per arm its audience members and their purchases dated from
starts_at's date to the earlier of ends_at's date and as_of's date (program timezone); the
comparisons are pure arithmetic (chalicelib/domain/experiments.py). Each answer is stored as
ANALYTICS / CAMPAIGN#<campaign_id>, the whole answer in one item, where the API reads it; the
items of campaigns no longer listed (deleted before their launch) are deleted. A campaign not
launched yet has no audience: its arms are zeros as of the refresh.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from chalicelib.analytics import results, sql
from chalicelib.domain import experiments
from chalicelib.domain.calendar import local_date, parse_instant
from chalicelib.storage import repository as keys
from chalicelib.storage.store import Store

QUERY = "campaign_results"


def campaign_dates(campaign: dict, timezone: str, as_of_date: dt.date) -> tuple[dt.date, dt.date]:
    """starts_at's date .. the earlier of ends_at's date and as_of's date (empty when the first
    is after the last: a campaign that has not started)."""
    first = local_date(parse_instant(campaign["starts_at"]), timezone)
    last = min(local_date(parse_instant(campaign["ends_at"]), timezone), as_of_date)
    return first, last


def arm_figures(campaign: dict, rows: dict[str, dict]) -> list[experiments.ArmFigures]:
    """The campaign's arms in their listed order, with the query's counts (zeros where none)."""
    figures = []
    for arm in campaign.get("arms") or []:
        row = rows.get(arm["name"], {})
        figures.append(
            experiments.ArmFigures(
                name=arm["name"],
                members=_int(row.get("members")),
                purchasers=_int(row.get("purchasers")),
                purchases=_int(row.get("purchases")),
                purchase_amount=_int(row.get("purchase_amount")),
                points_awarded=_int(row.get("points_awarded")),
                coupons_used=_int(row.get("coupons_used")),
                control=arm.get("reward") is None,
            )
        )
    return figures


def empty_answer(campaign: dict, as_of: Optional[str]) -> dict:
    """The answer when no refresh has counted the campaign: every arm zeros (comparisons null)."""
    return experiments.results(campaign["campaign_id"], as_of, arm_figures(campaign, {}))


def compute(
    engine: Any, campaigns: list[dict], timezone: str, as_of: str, as_of_time: dt.datetime, as_of_date: dt.date
) -> dict[str, dict]:
    """campaign_id -> its §22 answer as of this refresh (one query for every campaign)."""
    if not campaigns:
        return {}
    windows = [(c["campaign_id"], *campaign_dates(c, timezone, as_of_date)) for c in campaigns]
    dialect = getattr(engine, "dialect", "duckdb")
    found = engine.query(sql.render_campaigns(QUERY, dialect, windows, as_of_time=as_of_time))
    by_campaign: dict[str, dict[str, dict]] = {}
    for row in found:
        by_campaign.setdefault(row["campaign_id"], {})[row["arm"]] = row
    return {
        c["campaign_id"]: experiments.results(
            c["campaign_id"], as_of, arm_figures(c, by_campaign.get(c["campaign_id"], {}))
        )
        for c in campaigns
    }


def listing(store: Store) -> list[dict]:
    """Every campaign (CAMPAIGNS / <campaign_id>), one Query of the listing's partition."""
    return store.query_all(keys.CAMPAIGNS_PK)


def store_answers(store: Store, answers: dict[str, dict], writes: results.Writes) -> None:
    """Each answer as ANALYTICS / CAMPAIGN#<id>; the items of campaigns gone deleted."""
    results.replace_analytics_prefix(
        store,
        keys.CAMPAIGN_RESULTS_PREFIX,
        {keys.campaign_results_key(campaign_id): answer for campaign_id, answer in answers.items()},
        writes,
    )


def refresh_campaigns(
    engine: Any,
    store: Store,
    timezone: str,
    as_of: str,
    as_of_time: dt.datetime,
    as_of_date: dt.date,
    writes: results.Writes,
) -> int:
    """The refresh's step for §22: compute and store every campaign's results; returns how many."""
    answers = compute(engine, listing(store), timezone, as_of, as_of_time, as_of_date)
    store_answers(store, answers, writes)
    return len(answers)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)
