// Type-checked with the types openapi-typescript generates from /openapi.json
// (tests/clients/test_typescript_client.py): the answers a storefront reads have
// named, typed schemas.
import type { components, operations } from "./dangol";

type Schemas = components["schemas"];

const member: Schemas["Member"] = {
  member_id: "jiyoon", tier: "새싹", balance: 1000, lifetime_points: 1000, quarter_spend: 0,
  expiring: [], next_tier: { name: "열매", spend_needed: 300000 },
};
const enrolled: operations["create_member"]["responses"]["201"]["content"]["application/json"] = member;
const found: operations["find_members"]["responses"]["200"]["content"]["application/json"] = {
  items: [enrolled], next_cursor: null,
};
const looked_up: Schemas["Member"] =
  ({} as operations["get_member"]["responses"]["200"]["content"]["application/json"]);
const bought: Schemas["Coupon"] = {
  coupon_id: "c1", code: "XZFT-QMZ7-NHUT", member_id: "jiyoon", template_id: "latte-1000",
  name: "라떼 ₩1,000", discount: { type: "amount", amount: 1000 }, min_order_amount: 0,
  source: "points", status: "available", issued_at: "2027-01-01T00:00:00Z",
  expires_at: "2027-03-02T00:00:00Z",
  transaction: {
    transaction_id: "01J0000000000000000000000A", member_id: "jiyoon", type: "redeem",
    points: -800, balance_after: 1465, created_at: "2027-01-01T00:00:00Z", coupon_id: "c1",
  },
};
const transfer_rules: Schemas["TransferRules"] = { allowed_tiers: ["숲"], min_points: 1000 };
const program: operations["put_program"]["requestBody"]["content"]["application/json"] = {
  transfer: transfer_rules,
};
const saved: Schemas["Program"] =
  ({} as operations["put_program"]["responses"]["200"]["content"]["application/json"]);
const preview: Schemas["ProgramPreview"] = { program, purchase: { amount: 10000 } };
const gift: Schemas["Transfer"] = { to_member_id: "minho", points: 1000 };

export { found, looked_up, bought, saved, preview, gift };
