"""§23 through the API on moto: the program's recommendation_bonus, the earn's
`recommended` line from the stored lists, and the member page's recommendations."""

from __future__ import annotations

from chalicelib.runtime import services
from chalicelib.storage.repository import COLD_RECOMMENDATIONS_KEY, recommendations_key
from tests.checks import assert_error, earn

BONUS = {"recommendation_bonus": {"extra_rate": "0.05"}}
AS_OF = "2027-01-15T00:00:00Z"
LATTE = {"sku": "latte", "category": "coffee", "amount": 4_510}
SCONE = {"sku": "scone", "category": "bakery", "amount": 2_990}
MOCHA = {"sku": "mocha", "category": "coffee", "amount": 5_000}


def stored(key: tuple[str, str], *skus: str) -> None:
    items = [{"sku": sku, "category": "coffee", "score": 10 - n} for n, sku in enumerate(skus)]
    services().store.put({"pk": key[0], "sk": key[1], "items": items, "as_of": AS_OF})


def lines(tx: dict) -> dict[str, int]:
    return {line["rule"]: line["points"] for line in tx["breakdown"]}


def test_the_program_shows_the_bonus_and_a_bad_one_leaves_the_old_program(api):
    assert api.get("/program", key="admin").json["recommendation_bonus"] is None
    assert api.program(BONUS)["recommendation_bonus"] == {"extra_rate": "0.05"}
    for bad in ({"extra_rate": "-0.05"}, {"extra_rate": 0.05}, {"extra_rate": "lots"}, {}, {"rate": "0.05"}):
        assert_error(api.put("/program", {"recommendation_bonus": bad}, key="admin"), 400, "VALIDATION_ERROR")
    assert api.get("/program", key="admin").json["recommendation_bonus"] == {"extra_rate": "0.05"}


def test_an_earn_gets_the_recommended_line_from_the_stored_lists_and_a_refund_claws_it_back(api, clock):
    api.program(BONUS)
    api.member("ana")
    api.member("bo")
    stored(recommendations_key("ana", 0), "latte", "scone")
    stored(COLD_RECOMMENDATIONS_KEY, "mocha")
    calls: list[str] = []
    services().store.client.meta.events.register("before-call.dynamodb.*", lambda model, **kw: calls.append(model.name))
    tx = earn(api, "ana", "o1", 12_500, items=[LATTE, SCONE, MOCHA])
    assert calls == ["BatchGetItem", "TransactWriteItems"]
    # base 125; latte + scone 7,500 × 0.05 = 375
    assert lines(tx) == {"base": 125, "recommended": 375}
    assert api.get("/members/ana", key="admin").json["lifetime_points"] == 1000 + 500
    # bo has no list of his own: the cold-start list (mocha 5,000 × 0.05 = 250)
    assert lines(earn(api, "bo", "o1", 12_500, items=[LATTE, SCONE, MOCHA])) == {"base": 125, "recommended": 250}
    # a refund of 5,000 of 12,500 claws back floor(500 × 5,000 / 12,500) = 200
    refund = api.post(f"/members/ana/transactions/{tx['transaction_id']}/reversal", {"amount": 5_000})
    assert refund.status == 201, refund
    assert refund.json["points"] == -200
    assert api.balance("ana") == 1300


def test_the_member_page_shows_the_first_five_of_the_members_list_or_the_cold_list(api, clock):
    api.member("ana")
    api.member("bo")
    token = {m: api.post(f"/members/{m}/widget-tokens", idem=None).json["token"] for m in ("ana", "bo")}
    assert api.get("/widget/api/recommendations", key=token["ana"]).json == {"as_of": None, "items": []}
    stored(recommendations_key("ana", 0), "a1", "a2", "a3", "a4", "a5", "a6", "a7")
    stored(COLD_RECOMMENDATIONS_KEY, "c1", "c2")
    calls: list[str] = []
    services().store.client.meta.events.register("before-call.dynamodb.*", lambda model, **kw: calls.append(model.name))
    answer = api.get("/widget/api/recommendations", key=token["ana"])
    assert answer.status == 200, answer
    assert calls == ["GetItem", "BatchGetItem"]  # the token's member, then both lists
    assert answer.json["as_of"] == AS_OF
    assert answer.json["items"][0] == {"sku": "a1", "category": "coffee", "score": 10}
    assert [i["sku"] for i in answer.json["items"]] == ["a1", "a2", "a3", "a4", "a5"]
    assert [i["sku"] for i in api.get("/widget/api/recommendations", key=token["bo"]).json["items"]] == ["c1", "c2"]
    assert api.get("/widget/api/recommendations", key="storefront").status == 401
