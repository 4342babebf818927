-- Generated from ../member_values.sql by `python -m devtools.analytics_sql`: edit that file, not this one.
/* §20/§21: one row per member not erased, enrolled by :as_of_time. */
/* Parameters: :as_of_time (TIMESTAMP, UTC), :as_of_date and :window_start (DATE; the 365 dates */
/* ending with as_of's date). A purchase is an `earn`; its date its occurred_date; its net amount */
/* amount - refunded_amount. RFM: rank = scored members with a strictly smaller value */
/* (rank() - 1), score = 1 + floor(5 * rank / N); R's value is -recency_days, ordered as the */
/* latest purchase date. A transaction's type, created_at, occurred_at and amount are written once */
/* (its later rows change refunded_amount, which only grows), so earns recorded by :as_of_time are */
/* picked first and a transaction's net amount is its amount less its largest refunded_amount: */
/* one group by transaction_id, no latest row to find (a row delivered twice counts once). */
WITH latest_members AS (
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
    tier,
    balance,
    dormant,
    enrolled_date
  FROM latest_members
  WHERE
    status <> 'erased' AND enrolled_at <= :as_of_time
), purchases AS (
  /* a transaction's later rows change only refunded_amount, and it only grows (a refund adds to */
  /* it; nothing takes a refund back): one group per transaction (min() of a value its rows share), */
  /* its largest refunded_amount */
  SELECT
    MIN(member_id) AS member_id,
    MIN(generation) AS generation,
    MIN(occurred_date) AS occurred_date,
    MIN(amount) - COALESCE(MAX(refunded_amount), 0) AS net_amount
  FROM transactions
  WHERE
    type = 'earn' AND created_at <= :as_of_time
  GROUP BY
    transaction_id
), per_member AS (
  SELECT
    l.member_id,
    l.generation,
    l.tier,
    l.balance,
    l.dormant,
    l.enrolled_date,
    MAX(p.occurred_date) AS last_purchase_date,
    COUNT(CASE WHEN p.occurred_date BETWEEN :window_start AND :as_of_date THEN 1 END) AS frequency,
    COALESCE(
      SUM(
        CASE
          WHEN p.occurred_date BETWEEN :window_start AND :as_of_date
          THEN p.net_amount
        END
      ),
      0
    ) AS monetary,
    COALESCE(SUM(p.net_amount), 0) AS clv
  FROM live AS l
  LEFT JOIN purchases AS p
    ON p.member_id = l.member_id AND p.generation = l.generation
  GROUP BY
    l.member_id,
    l.generation,
    l.tier,
    l.balance,
    l.dormant,
    l.enrolled_date
), scored AS (
  SELECT
    member_id,
    generation,
    1 + CAST(TRUNCATE(
      CAST(5 * (
        RANK() OVER (ORDER BY last_purchase_date) - 1
      ) AS DOUBLE) / COUNT(*) OVER ()
    ) AS BIGINT) AS r,
    1 + CAST(TRUNCATE(
      CAST(5 * (
        RANK() OVER (ORDER BY frequency) - 1
      ) AS DOUBLE) / COUNT(*) OVER ()
    ) AS BIGINT) AS f,
    1 + CAST(TRUNCATE(CAST(5 * (
      RANK() OVER (ORDER BY monetary) - 1
    ) AS DOUBLE) / COUNT(*) OVER ()) AS BIGINT) AS m
  FROM per_member
  WHERE
    frequency >= 1
)
SELECT
  p.member_id,
  p.generation,
  p.tier,
  p.balance,
  p.dormant,
  DATE_DIFF('DAY', DATE_TRUNC('DAY', p.enrolled_date), DATE_TRUNC('DAY', :as_of_date)) AS days_since_joined,
  DATE_DIFF('DAY', DATE_TRUNC('DAY', p.last_purchase_date), DATE_TRUNC('DAY', :as_of_date)) AS recency_days,
  p.last_purchase_date,
  p.frequency,
  p.monetary,
  p.clv,
  s.r,
  s.f,
  s.m,
  CASE
    WHEN s.r IS NULL
    THEN NULL
    WHEN s.r >= 4 AND s.f >= 4 AND s.m >= 4
    THEN 'champions'
    WHEN s.r >= 3 AND s.f >= 4
    THEN 'loyal'
    WHEN s.r >= 4 AND s.f <= 2
    THEN 'promising'
    WHEN s.r <= 2 AND s.f >= 3
    THEN 'at_risk'
    WHEN s.r <= 2 AND s.f <= 2
    THEN 'hibernating'
    ELSE 'needs_attention'
  END AS rfm_segment
FROM per_member AS p
LEFT JOIN scored AS s
  ON s.member_id = p.member_id AND s.generation = p.generation
ORDER BY
  p.member_id,
  p.generation
