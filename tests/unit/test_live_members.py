"""refresh.live_members: each engine column lands in the member's value of the same name (the
values are made positionally, in MemberValues' field order), for DuckDB's typed values and
Athena's texts alike."""

import datetime as dt

from chalicelib.analytics import refresh
from chalicelib.domain.segments import MemberValues


def row(**changes: object) -> dict:
    values: dict = {
        "member_id": "m-1",
        "generation": 2,
        "recency_days": 11,
        "frequency": 22,
        "monetary": 33,
        "clv": 44,
        "balance": 55,
        "days_since_joined": 66,
        "tier": "gold",
        "rfm_segment": "loyal",
        "dormant": True,
        "r": 3,
        "f": 4,
        "m": 5,
        "last_purchase_date": dt.date(2027, 4, 29),
    }
    return {**values, **changes}


def test_every_column_lands_in_its_own_field():
    bought = [
        {"member_id": "m-1", "generation": 2, "category": "beans", "sku": None},
        {"member_id": "m-1", "generation": 2, "category": None, "sku": "SKU-7"},
        {"member_id": "m-1", "generation": 1, "category": "tea", "sku": "SKU-1"},  # an earlier generation
    ]
    (live,) = refresh.live_members([row()], bought).values()
    assert live.generation == 2
    assert live.values == MemberValues(
        member_id="m-1",
        recency_days=11,
        frequency=22,
        monetary=33,
        clv=44,
        balance=55,
        days_since_joined=66,
        tier="gold",
        rfm_segment="loyal",
        dormant=True,
        categories=frozenset({"beans"}),
        skus=frozenset({"SKU-7"}),
    )
    assert live.values._asdict()["balance"] == 55 and live.values.days_since_joined == 66
    assert live.rfm == {"r": 3, "f": 4, "m": 5}
    assert live.last_purchase_date == "2027-04-29"


def test_athena_texts_and_nulls():
    athena = row(
        generation="2",
        recency_days=None,
        frequency="0",
        monetary="0",
        clv="7",
        balance=None,
        days_since_joined="9",
        dormant="false",
        r=None,
        f=None,
        m=None,
        rfm_segment=None,
        last_purchase_date=None,
    )
    (live,) = refresh.live_members([athena], []).values()
    assert live.values == MemberValues("m-1", None, 0, 0, 7, 0, 9, "gold", None, False, frozenset(), frozenset())
    assert (live.generation, live.rfm, live.last_purchase_date) == (2, None, None)


def test_the_newest_generation_of_an_id_is_kept():
    members = refresh.live_members([row(generation=3, clv=1), row(generation=2, clv=2)], [])
    assert members["m-1"].generation == 3 and members["m-1"].values.clv == 1
