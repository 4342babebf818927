-- Generated from ../summary.sql by `python -m devtools.analytics_sql`: edit that file, not this one.
/* §18: the program summary of each date window (rates are computed by the caller). The */
/* `windows` table is one row, :from_date..:to_date; `sql.render_windows` makes it one row per */
/* window (window_id = its position), so every month and day window is one query that reads */
/* and deduplicates the facts once. One row per window, in window_id order. */
/* Members counted are not erased; purchases and points stay program-wide (erased members' */
/* purchases included as anonymous numbers). Points by the date each transaction was recorded */
/* (created_date); purchases by their occurred_date; coupon uses less releases by event date. */
/* At scale: a transaction is one group by transaction_id (its later rows change refunded_amount */
/* only, and it only grows: no latest row to find, no second pass); program-wide purchase */
/* totals add up dates, not member-days; active members are counted on integer member numbers. */
WITH windows AS (
  SELECT
    0 AS window_id,
    :from_date AS from_date,
    :to_date AS to_date
), latest_members AS (
  SELECT
    *
  FROM (
    SELECT
      m.*,
      ROW_NUMBER() OVER (PARTITION BY m.member_id, m.generation ORDER BY m.seq DESC) AS rn
    FROM members AS m
  ) AS ranked
  WHERE
    rn = 1
), live AS (
  SELECT
    member_id,
    generation,
    enrolled_date
  FROM latest_members
  WHERE
    status <> 'erased' AND enrolled_at <= :as_of_time
), latest_transactions AS (
  /* one row per transaction recorded by :as_of_time: its later rows change only */
  /* refunded_amount, which only grows, so the latest one is its largest (min() of a value its */
  /* rows share) */
  SELECT
    MIN(member_id) AS member_id,
    MIN(generation) AS generation,
    MIN(type) AS type,
    MIN(points) AS points,
    MIN(created_date) AS created_date,
    MIN(occurred_date) AS occurred_date,
    MIN(amount) AS amount,
    MAX(refunded_amount) AS refunded_amount
  FROM transactions
  WHERE
    created_at <= :as_of_time
  GROUP BY
    transaction_id
), enrolment_days /* per day first: the windows then add up days, not rows */ AS (
  SELECT
    enrolled_date,
    COUNT(*) AS members
  FROM live
  GROUP BY
    enrolled_date
), purchase_days AS (
  SELECT
    member_id,
    generation,
    occurred_date,
    COUNT(*) AS purchases,
    SUM(amount - COALESCE(refunded_amount, 0)) AS net_amount
  FROM latest_transactions
  WHERE
    type = 'earn'
  GROUP BY
    member_id,
    generation,
    occurred_date
), point_days AS (
  SELECT
    created_date,
    SUM(CASE WHEN type IN ('earn', 'bonus', 'activity') THEN points END) AS points_earned,
    SUM(CASE WHEN type = 'redeem' THEN -points END) AS points_redeemed,
    SUM(CASE WHEN type = 'expire' THEN -points END) AS points_expired
  FROM latest_transactions
  GROUP BY
    created_date
), coupon_days AS (
  SELECT
    event_date,
    COUNT(CASE WHEN event = 'issued' THEN 1 END) AS coupons_issued,
    COUNT(CASE WHEN event = 'used' THEN 1 END) - COUNT(CASE WHEN event = 'released' THEN 1 END) AS coupons_used
  FROM (
    SELECT DISTINCT
      coupon_id,
      event,
      seq,
      event_date,
      event_at
    FROM coupon_events
  ) AS events
  WHERE
    event_at <= :as_of_time
  GROUP BY
    event_date
), member_totals AS (
  SELECT
    w.window_id,
    SUM(e.members) AS members_at_end,
    SUM(CASE WHEN e.enrolled_date >= w.from_date THEN e.members END) AS new_members
  FROM windows AS w
  JOIN enrolment_days AS e
    ON e.enrolled_date <= w.to_date
  GROUP BY
    w.window_id
), live_numbers AS (
  SELECT
    member_id,
    generation,
    ROW_NUMBER() OVER () AS member_no
  FROM live
), buyer_days AS (
  SELECT
    n.member_no,
    p.occurred_date,
    p.purchases
  FROM purchase_days AS p
  JOIN live_numbers AS n
    ON n.member_id = p.member_id AND n.generation = p.generation
), buyers AS (
  SELECT
    w.window_id,
    b.member_no,
    SUM(b.purchases) AS purchases
  FROM buyer_days AS b
  JOIN windows AS w
    ON b.occurred_date BETWEEN w.from_date AND w.to_date
  GROUP BY
    w.window_id,
    b.member_no
), buyer_totals AS (
  SELECT
    window_id,
    COUNT(*) AS active_members,
    COUNT(CASE WHEN purchases >= 2 THEN 1 END) AS repeat_members
  FROM buyers
  GROUP BY
    window_id
), purchase_dates AS (
  SELECT
    occurred_date,
    SUM(purchases) AS purchases,
    SUM(net_amount) AS net_amount
  FROM purchase_days
  GROUP BY
    occurred_date
), purchase_totals AS (
  SELECT
    w.window_id,
    SUM(p.purchases) AS purchases,
    SUM(p.net_amount) AS purchase_amount
  FROM purchase_dates AS p
  JOIN windows AS w
    ON p.occurred_date BETWEEN w.from_date AND w.to_date
  GROUP BY
    w.window_id
), point_totals AS (
  SELECT
    w.window_id,
    SUM(d.points_earned) AS points_earned,
    SUM(d.points_redeemed) AS points_redeemed,
    SUM(d.points_expired) AS points_expired
  FROM point_days AS d
  JOIN windows AS w
    ON d.created_date BETWEEN w.from_date AND w.to_date
  GROUP BY
    w.window_id
), coupon_totals AS (
  SELECT
    w.window_id,
    SUM(c.coupons_issued) AS coupons_issued,
    SUM(c.coupons_used) AS coupons_used
  FROM coupon_days AS c
  JOIN windows AS w
    ON c.event_date BETWEEN w.from_date AND w.to_date
  GROUP BY
    w.window_id
)
SELECT
  w.window_id,
  COALESCE(mt.members_at_end, 0) AS members_at_end,
  COALESCE(mt.new_members, 0) AS new_members,
  COALESCE(bt.active_members, 0) AS active_members,
  COALESCE(bt.repeat_members, 0) AS repeat_members,
  COALESCE(pt.purchases, 0) AS purchases,
  COALESCE(pt.purchase_amount, 0) AS purchase_amount,
  COALESCE(po.points_earned, 0) AS points_earned,
  COALESCE(po.points_redeemed, 0) AS points_redeemed,
  COALESCE(po.points_expired, 0) AS points_expired,
  COALESCE(ct.coupons_issued, 0) AS coupons_issued,
  COALESCE(ct.coupons_used, 0) AS coupons_used
FROM windows AS w
LEFT JOIN member_totals AS mt
  ON mt.window_id = w.window_id
LEFT JOIN buyer_totals AS bt
  ON bt.window_id = w.window_id
LEFT JOIN purchase_totals AS pt
  ON pt.window_id = w.window_id
LEFT JOIN point_totals AS po
  ON po.window_id = w.window_id
LEFT JOIN coupon_totals AS ct
  ON ct.window_id = w.window_id
ORDER BY
  w.window_id
