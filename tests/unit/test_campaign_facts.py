"""The campaign facts (§17, §22): breakdown lines as recorded, audience members, campaign coupons."""

from __future__ import annotations

from chalicelib.analytics.facts import TABLES, rows_from_records

from .test_facts import PII, TZ, coupon, earn_tx, record


def test_an_earn_makes_its_breakdown_lines_as_recorded():
    tx = earn_tx(
        sk="G1#TX#01TX",
        breakdown=[
            {"rule": "base", "points": 50},
            {"rule": "campaign:spring", "points": 50},
            {"rule": "campaign:spring", "points": 7},
        ],
    )
    rows = rows_from_records([record("INSERT", 3, new=tx)], TZ)
    assert rows["breakdown_lines"] == [
        {
            "transaction_id": "01TX",
            "member_id": "m1",
            "generation": 1,
            "occurred_date": "2027-02-01",  # 23:59:59 in Seoul
            "line": line,
            "rule": rule,
            "points": points,
        }
        for line, (rule, points) in enumerate([("base", 50), ("campaign:spring", 50), ("campaign:spring", 7)])
    ]


def test_a_refund_moving_the_earn_adds_no_breakdown_line():
    """The lines are what the earn recorded: a later refund (clawback) changes none of them."""
    before = earn_tx(breakdown=[{"rule": "campaign:spring", "points": 50}])
    after = {**before, "refunded_amount": 5000, "clawed_back": 100}
    rows = rows_from_records([record("MODIFY", 9, new=after, old=before)], TZ)
    assert rows["breakdown_lines"] == [] and len(rows["transactions"]) == 1


def test_other_transactions_make_no_breakdown_lines():
    bonus = earn_tx(type="bonus", breakdown=[{"rule": "campaign:spring", "points": 500}], items=None)
    assert rows_from_records([record("INSERT", 3, new=bonus)], TZ)["breakdown_lines"] == []


def assignment(**changes) -> dict:
    item = {
        "pk": "MEMBER#m1",
        "sk": "CAMPAIGN#spring",
        "campaign_id": "spring",
        "member_id": "m1",
        "generation": 0,
        "arm": "double",
        "assigned_at": "2027-03-01T00:00:00Z",
    }
    item.update(changes)
    return item


def test_an_assignment_makes_one_campaign_member_row_when_written():
    rows = rows_from_records([record("INSERT", 4, new=assignment(sk="G2#CAMPAIGN#spring", generation=2))], TZ)
    assert rows["campaign_members"] == [
        {
            "campaign_id": "spring",
            "member_id": "m1",
            "generation": 2,
            "arm": "double",
            "assigned_at": "2027-03-01 00:00:00",
        }
    ]
    # written once: a later change or a removal of the item makes nothing
    item = assignment()
    assert rows_from_records([record("MODIFY", 5, new=item, old=item)], TZ)["campaign_members"] == []
    assert rows_from_records([record("REMOVE", 6, old=item)], TZ)["campaign_members"] == []


def test_an_assignment_row_has_no_personal_data():
    item = assignment(name=PII[0], email=PII[1], phone=PII[2], birthday=PII[3], note=PII[4])
    rows = rows_from_records([record("INSERT", 4, new=item)], TZ)
    text = repr(rows)
    assert rows["campaign_members"] and not any(value in text for value in PII)
    assert set(rows) == set(TABLES)


def test_a_campaign_coupon_is_linked_to_its_campaign_when_issued():
    issued = coupon(campaign_id="spring", source="campaign")
    rows = rows_from_records([record("INSERT", 4, new=issued)], TZ)
    assert rows["campaign_coupons"] == [
        {"coupon_id": "01CP", "campaign_id": "spring", "member_id": "m1", "generation": 0}
    ]
    assert [event["event"] for event in rows["coupon_events"]] == ["issued"]
    used = {**issued, "status": "used", "used_at": "2027-03-02T01:00:00Z"}
    rows = rows_from_records([record("MODIFY", 5, new=used, old=issued)], TZ)
    assert rows["campaign_coupons"] == [] and [event["event"] for event in rows["coupon_events"]] == ["used"]


def test_a_coupon_of_no_campaign_is_linked_to_none():
    rows = rows_from_records([record("INSERT", 4, new=coupon())], TZ)
    assert rows["campaign_coupons"] == [] and len(rows["coupon_events"]) == 1
