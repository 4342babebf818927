-- Generated from ../cohorts.sql by `python -m devtools.analytics_sql`: edit that file, not this one.
/* §19: per cohort month (enrolment month of members not erased) its size, and per month */
/* offset k >= 0 up to :as_of_date's month how many of them made a purchase dated in it. */
/* Months are numbered year * 12 + month - 1; rows with k = NULL carry the cohort size. */
/* A transaction's type, created_at and occurred_date are written once (its later rows change */
/* refunded_amount only, which a cohort does not count): any of its rows will do, no latest row */
/* is picked (and a row delivered twice is one DISTINCT (member, k)). */
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
  SELECT DISTINCT
    l.member_id,
    l.generation,
    l.cohort,
    YEAR(t.occurred_date) * 12 + MONTH(t.occurred_date) - 1 - l.cohort AS k
  FROM transactions AS t
  JOIN live AS l
    ON l.member_id = t.member_id AND l.generation = t.generation
  WHERE
    t.type = 'earn'
    AND t.created_at <= :as_of_time
    AND YEAR(t.occurred_date) * 12 + MONTH(t.occurred_date) - 1 >= l.cohort
    AND t.occurred_date <= :as_of_date
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
