-- §18: the program summary for the dates :from_date..:to_date (rates are computed by the caller).
-- Members counted are not erased; purchases and points stay program-wide (erased members'
-- purchases included as anonymous numbers). Points by the date each transaction was recorded
-- (created_date); purchases by their occurred_date; coupon uses less releases by event date.
WITH latest_members AS (
    SELECT *
    FROM (
        SELECT m.*, row_number() OVER (PARTITION BY m.member_id, m.generation ORDER BY m.seq DESC) AS rn
        FROM members AS m
    ) AS ranked
    WHERE rn = 1
),
live AS (
    SELECT member_id, generation, enrolled_date
    FROM latest_members
    WHERE status <> 'erased' AND enrolled_at <= :as_of_time
),
latest_transactions AS (
    SELECT *
    FROM (
        SELECT t.*, row_number() OVER (PARTITION BY t.transaction_id ORDER BY t.seq DESC) AS rn
        FROM transactions AS t
    ) AS ranked
    WHERE rn = 1 AND created_at <= :as_of_time
),
purchases AS (
    SELECT member_id, generation, amount - coalesce(refunded_amount, 0) AS net_amount
    FROM latest_transactions
    WHERE type = 'earn' AND occurred_date BETWEEN :from_date AND :to_date
),
buyers AS (
    SELECT p.member_id, p.generation, count(*) AS purchases
    FROM purchases AS p
    JOIN live AS l ON l.member_id = p.member_id AND l.generation = p.generation
    GROUP BY p.member_id, p.generation
),
points AS (
    SELECT
        coalesce(sum(CASE WHEN type IN ('earn', 'bonus', 'activity') THEN points END), 0) AS points_earned,
        coalesce(sum(CASE WHEN type = 'redeem' THEN -points END), 0) AS points_redeemed,
        coalesce(sum(CASE WHEN type = 'expire' THEN -points END), 0) AS points_expired
    FROM latest_transactions
    WHERE created_date BETWEEN :from_date AND :to_date
),
coupons AS (
    SELECT
        count(CASE WHEN event = 'issued' THEN 1 END) AS coupons_issued,
        count(CASE WHEN event = 'used' THEN 1 END) - count(CASE WHEN event = 'released' THEN 1 END) AS coupons_used
    FROM (SELECT DISTINCT coupon_id, event, seq, event_date, event_at FROM coupon_events) AS events
    WHERE event_date BETWEEN :from_date AND :to_date AND event_at <= :as_of_time
)
SELECT
    (SELECT count(*) FROM live WHERE enrolled_date <= :to_date) AS members_at_end,
    (SELECT count(*) FROM live WHERE enrolled_date BETWEEN :from_date AND :to_date) AS new_members,
    (SELECT count(*) FROM buyers) AS active_members,
    (SELECT count(*) FROM buyers WHERE purchases >= 2) AS repeat_members,
    (SELECT count(*) FROM purchases) AS purchases,
    (SELECT coalesce(sum(net_amount), 0) FROM purchases) AS purchase_amount,
    points.points_earned,
    points.points_redeemed,
    points.points_expired,
    coupons.coupons_issued,
    coupons.coupons_used
FROM points, coupons
