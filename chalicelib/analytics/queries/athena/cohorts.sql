-- Generated from ../cohorts.sql by `python -m devtools.analytics_sql`: edit that file, not this one.
/* §19: per cohort month (enrolment month of members not erased) its size, and per month */
/* offset k >= 0 up to :as_of_date's month how many of them made a purchase dated in it. */
/* Months are numbered year * 12 + month - 1; rows with k = NULL carry the cohort size. */
/* A transaction's type, created_at and occurred_date are written once (its later rows change */
/* refunded_amount only, which a cohort does not count): any of its rows will do, no latest row */
/* is picked (and a row delivered twice is one DISTINCT (member, month)). At scale: a member's */
/* purchase months are made distinct before they meet the members (fewer rows joined). */
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
    YEAR(enrolled_date) * 12 + MONTH(enrolled_date) - 1 AS cohort
  FROM latest_members
  WHERE
    status <> 'erased' AND enrolled_at <= :as_of_time
), active AS (
  SELECT
    l.cohort,
    p.month - l.cohort AS k
  FROM (
    SELECT DISTINCT
      member_id,
      generation,
      YEAR(occurred_date) * 12 + MONTH(occurred_date) - 1 AS month
    FROM transactions
    WHERE
      type = 'earn' AND created_at <= :as_of_time AND occurred_date <= :as_of_date
  ) AS p
  JOIN live AS l
    ON l.member_id = p.member_id AND l.generation = p.generation
  WHERE
    p.month >= l.cohort
)
SELECT
  cohort,
  CAST(NULL AS BIGINT) AS k,
  COUNT(*) AS members
FROM live
GROUP BY
  cohort
UNION ALL
SELECT
  cohort,
  k,
  COUNT(*) AS members
FROM active
GROUP BY
  cohort,
  k
ORDER BY
  cohort,
  k
