def test_member_earns_and_redeems(demo, clock):
    clock.set("2027-01-03T03:00:00Z")
    demo.member("m1", email="kim@example.com")
    earned = demo.post("/members/m1/earn", {"order_id": "o1", "amount": 12000})
    assert earned.status == 201, earned
    assert earned.json["breakdown"][0] == {"rule": "base", "points": 120}
    assert demo.balance("m1") == 1000 + 120 + 120  # grand-opening promotion doubles
    redeemed = demo.post("/members/m1/redeem", {"points": 1000})
    assert redeemed.status == 201, redeemed
    assert demo.balance("m1") == 240
