-- Generated from ../campaign_results.sql by `python -m devtools.analytics_sql`: edit that file, not this one.
/* §22 campaign results: per campaign and arm, the arm's audience members and what they did in */
/* the campaign's dates. The `campaigns` table is one row (:from_date..:to_date, campaign ''): */
/* `sql.render_campaigns` makes it one row per campaign (its id, starts_at's date, the earlier */
/* of ends_at's date and as_of's date), so every campaign is one query that reads the facts once. */
/* Rows (campaign_id, arm, members, purchasers, purchases, purchase_amount, points_awarded, */
/* coupons_used), one per arm with at least one member; the caller fills the others with zeros. */
/* Audience members stay counted after an erasure (anonymous numbers, §17). A purchase is an earn */
/* recorded before as_of whose occurred_date lies in the dates; its amount is net of refunds; */
/* points_awarded sums its `campaign:<campaign_id>` breakdown lines as recorded (before any */
/* clawback); coupons_used counts the uses less the releases, dated in the dates, of the coupons */
/* the campaign issued. */
WITH campaigns AS (
  SELECT
    '' AS campaign_id,
    :from_date AS from_date,
    :to_date AS to_date
), audience AS (
  SELECT DISTINCT
    c.campaign_id,
    m.member_id,
    m.generation,
    m.arm,
    c.from_date,
    c.to_date
  FROM campaign_members AS m
  JOIN campaigns AS c
    ON c.campaign_id = m.campaign_id
), dates AS (
  SELECT
    MIN(from_date) AS first_date,
    MAX(to_date) AS last_date
  FROM campaigns
), latest_transactions AS (
  /* only the audience's earns dated within some campaign's dates are ranked */
  SELECT
    *
  FROM (
    SELECT
      t.*,
      ROW_NUMBER() OVER (PARTITION BY t.transaction_id ORDER BY t.seq DESC) AS rn
    FROM transactions AS t
    JOIN dates AS d
      ON t.occurred_date BETWEEN d.first_date AND d.last_date
    WHERE
      t.type = 'earn' AND t.member_id IN (
        SELECT
          member_id
        FROM audience
      )
  ) AS ranked
  WHERE
    rn = 1 AND created_at <= :as_of_time
), purchases AS (
  SELECT
    a.campaign_id,
    a.arm,
    a.member_id,
    a.generation,
    t.transaction_id,
    t.amount - COALESCE(t.refunded_amount, 0) AS net_amount
  FROM audience AS a
  JOIN latest_transactions AS t
    ON t.member_id = a.member_id AND t.generation = a.generation
  WHERE
    t.occurred_date BETWEEN a.from_date AND a.to_date
), lines AS (
  SELECT
    p.campaign_id,
    p.arm,
    SUM(l.points) AS points_awarded
  FROM purchases AS p
  JOIN (
    SELECT DISTINCT
      transaction_id,
      line,
      rule,
      points
    FROM breakdown_lines
    WHERE
      rule LIKE 'campaign:%'
  ) AS l
    ON l.transaction_id = p.transaction_id
    AND l.rule = CONCAT(CAST('campaign:' AS VARCHAR), CAST(p.campaign_id AS VARCHAR))
  GROUP BY
    p.campaign_id,
    p.arm
), coupon_uses AS (
  SELECT
    a.campaign_id,
    a.arm,
    COUNT(CASE WHEN e.event = 'used' THEN 1 END) - COUNT(CASE WHEN e.event = 'released' THEN 1 END) AS coupons_used
  FROM (
    SELECT DISTINCT
      coupon_id,
      campaign_id,
      member_id,
      generation
    FROM campaign_coupons
  ) AS k
  JOIN audience AS a
    ON a.campaign_id = k.campaign_id
    AND a.member_id = k.member_id
    AND a.generation = k.generation
  JOIN (
    SELECT DISTINCT
      coupon_id,
      event,
      seq,
      event_at,
      event_date
    FROM coupon_events
  ) AS e
    ON e.coupon_id = k.coupon_id
  WHERE
    e.event_at <= :as_of_time AND e.event_date BETWEEN a.from_date AND a.to_date
  GROUP BY
    a.campaign_id,
    a.arm
), arm_members AS (
  SELECT
    campaign_id,
    arm,
    COUNT(*) AS members
  FROM audience
  GROUP BY
    campaign_id,
    arm
), arm_purchases AS (
  SELECT
    campaign_id,
    arm,
    COUNT(
      DISTINCT CONCAT(CAST(member_id AS VARCHAR), CAST('#' AS VARCHAR), CAST(generation AS VARCHAR))
    ) AS purchasers,
    COUNT(*) AS purchases,
    SUM(net_amount) AS purchase_amount
  FROM purchases
  GROUP BY
    campaign_id,
    arm
)
SELECT
  m.campaign_id,
  m.arm,
  m.members,
  COALESCE(p.purchasers, 0) AS purchasers,
  COALESCE(p.purchases, 0) AS purchases,
  COALESCE(p.purchase_amount, 0) AS purchase_amount,
  COALESCE(l.points_awarded, 0) AS points_awarded,
  COALESCE(u.coupons_used, 0) AS coupons_used
FROM arm_members AS m
LEFT JOIN arm_purchases AS p
  ON p.campaign_id = m.campaign_id AND p.arm = m.arm
LEFT JOIN lines AS l
  ON l.campaign_id = m.campaign_id AND l.arm = m.arm
LEFT JOIN coupon_uses AS u
  ON u.campaign_id = m.campaign_id AND u.arm = m.arm
ORDER BY
  m.campaign_id,
  m.arm
