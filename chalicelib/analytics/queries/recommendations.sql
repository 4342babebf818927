-- §23 recommendations, from the items of the purchases (the latest rows of `earn` transactions,
-- refunded or not) dated within :window_start..:as_of_date (the 365 dates ending with as_of's
-- date), recorded by :as_of_time. Every buyer counts, erased or not (anonymous numbers):
--   buyers(s) = distinct members who bought s; co(s, t) = distinct members who bought both.
-- A member is (member_id, generation). Rows, in this order (by `list`, then member):
--   list 'catalogue': one row per sku bought in the window (rank = its sku_no, sku, category, score =
--       buyers), so that a member's list can name skus by number;
--   list 'cold': the cold-start list (member NULL; score = buyers; buyers desc, sku asc; 1..10);
--   list 'erased': one row per erased member: it has no list;
--   list 'member': one row per live buyer, `picks` its list as "sku_no:score,..." in rank order
--       (1..10: score desc, buyers desc, sku asc; score = sum of co(s, t) over the skus s the
--       member bought, t not bought; a sum of co >= 1, so a zero score never appears), or NULL
--       when it has none. Numbers are the only text in `picks`: a sku may hold any character.
-- `category` of a sku: that of its latest purchase item by occurred_at, then by recording (the
-- transaction's first row, then the item's line).
-- At scale: a transaction's type, created_at and occurred_at are written once (its later rows
-- change refunded_amount only), so no latest row is needed; items are made only for earns (from the
-- earn's item or the parts written with it in one transaction), so the items kept are those dated in the
-- window less those of earns recorded after :as_of_time (an anti-join on the few such ids, not a
-- semi-join on every earn's; a row delivered twice counts once, pairs are grouped). An item's occurred_date is its transaction's,
-- so a sku's latest item by occurred_at is among its items of the latest date: only those are
-- joined to their transactions' rows (occurred_at, first row) to find the category. Members and skus
-- are numbered (member_no in (member_id, generation) order, sku_no in sku order), so the joins
-- and group bys are on integers (a member's picks too: grouped by member_no, then named). A
-- member who bought more than half the skus ("dense") is handled through the skus it did NOT
-- buy (`missing`), so no member costs more than (skus / 2)^2 joined rows:
--   co(s, t) = co over the other members' pairs (a self-join grouped by (s, t)) + for dense
--     members D - missing(s) - missing(t) + (members missing both) (inclusion-exclusion);
--   a member's score of t (t not bought) = sum of co(s, t) over its pairs (other members), or
--     = sum over every s of co(s, t) - sum of co(s, t) over the skus s it did not buy (dense).
WITH latest_members AS (
    SELECT *
    FROM (
        SELECT m.*, row_number() OVER (PARTITION BY m.member_id, m.generation ORDER BY m.seq DESC) AS rn
        FROM members AS m
    ) AS ranked
    WHERE rn = 1
),
live AS (
    SELECT member_id, generation
    FROM latest_members
    WHERE status <> 'erased' AND enrolled_at <= :as_of_time
),
late AS (
    -- (never a null id: NOT IN with a null in the list would keep no item)
    SELECT transaction_id
    FROM transactions
    WHERE
        type = 'earn'
        AND created_at > :as_of_time
        AND occurred_date BETWEEN :window_start AND :as_of_date
        AND transaction_id IS NOT NULL
),
pairs AS (
    SELECT i.member_id, i.generation, i.sku, max(i.occurred_date) AS last_date
    FROM earn_items AS i
    WHERE
        i.sku IS NOT NULL
        AND i.occurred_date BETWEEN :window_start AND :as_of_date
        AND i.transaction_id NOT IN (SELECT transaction_id FROM late)
    GROUP BY i.member_id, i.generation, i.sku
),
skus AS (
    SELECT sku, buyers, row_number() OVER (ORDER BY sku) AS sku_no
    FROM (SELECT sku, count(*) AS buyers FROM pairs GROUP BY sku) AS counted
),
catalogue AS (
    SELECT count(*) AS skus
    FROM skus
),
buyer_numbers AS (
    SELECT
        b.member_id,
        b.generation,
        row_number() OVER (ORDER BY b.member_id, b.generation) AS member_no,
        CASE WHEN l.member_id IS NULL THEN FALSE ELSE TRUE END AS is_live,
        CASE WHEN 2 * b.bought > c.skus THEN TRUE ELSE FALSE END AS dense
    FROM (SELECT member_id, generation, count(*) AS bought FROM pairs GROUP BY member_id, generation) AS b
    CROSS JOIN catalogue AS c
    LEFT JOIN live AS l ON l.member_id = b.member_id AND l.generation = b.generation
),
numbered AS (
    SELECT b.member_no, b.is_live, b.dense, k.sku_no
    FROM pairs AS p
    JOIN buyer_numbers AS b ON b.member_id = p.member_id AND b.generation = p.generation
    JOIN skus AS k ON k.sku = p.sku
),
last_dates AS (
    SELECT sku, max(last_date) AS occurred_date
    FROM pairs
    GROUP BY sku
),
last_items AS (
    SELECT i.transaction_id, i.sku, i.category, i.line
    FROM earn_items AS i
    JOIN last_dates AS d ON d.sku = i.sku AND d.occurred_date = i.occurred_date
),
last_purchases AS (
    SELECT t.transaction_id, max(t.occurred_at) AS occurred_at, min(t.seq) AS recorded_seq
    FROM transactions AS t
    WHERE
        t.type = 'earn'
        AND t.created_at <= :as_of_time
        AND t.occurred_date BETWEEN :window_start AND :as_of_date
        AND t.transaction_id IN (SELECT transaction_id FROM last_items)
    GROUP BY t.transaction_id
),
categories AS (
    SELECT sku, category
    FROM (
        SELECT
            i.sku,
            i.category,
            row_number() OVER (
                PARTITION BY i.sku ORDER BY p.occurred_at DESC NULLS LAST, p.recorded_seq DESC, i.line DESC
            ) AS rn
        FROM last_items AS i
        JOIN last_purchases AS p ON p.transaction_id = i.transaction_id
    ) AS ranked
    WHERE rn = 1
),
missing AS (
    SELECT b.member_no, b.is_live, k.sku_no
    FROM buyer_numbers AS b
    CROSS JOIN skus AS k
    LEFT JOIN numbered AS n ON n.member_no = b.member_no AND n.sku_no = k.sku_no AND n.dense
    WHERE b.dense AND n.sku_no IS NULL
),
dense_count AS (
    SELECT count(*) AS members
    FROM buyer_numbers
    WHERE dense
),
dense_skus AS (
    SELECT DISTINCT sku_no
    FROM numbered
    WHERE dense
),
missing_counts AS (
    SELECT sku_no, count(*) AS missing
    FROM missing
    GROUP BY sku_no
),
missing_co AS (
    SELECT a.sku_no AS s, b.sku_no AS t, count(*) AS co
    FROM missing AS a
    JOIN missing AS b ON b.member_no = a.member_no AND b.sku_no <> a.sku_no
    GROUP BY a.sku_no, b.sku_no
),
co_dense AS (
    SELECT
        a.sku_no AS s,
        b.sku_no AS t,
        d.members - coalesce(ma.missing, 0) - coalesce(mb.missing, 0) + coalesce(x.co, 0) AS co
    FROM dense_skus AS a
    JOIN dense_skus AS b ON b.sku_no <> a.sku_no
    CROSS JOIN dense_count AS d
    LEFT JOIN missing_counts AS ma ON ma.sku_no = a.sku_no
    LEFT JOIN missing_counts AS mb ON mb.sku_no = b.sku_no
    LEFT JOIN missing_co AS x ON x.s = a.sku_no AND x.t = b.sku_no
),
co_sparse AS (
    SELECT a.sku_no AS s, b.sku_no AS t, count(*) AS co
    FROM numbered AS a
    JOIN numbered AS b ON b.member_no = a.member_no AND b.sku_no <> a.sku_no
    WHERE NOT a.dense AND NOT b.dense
    GROUP BY a.sku_no, b.sku_no
),
co AS (
    SELECT s, t, sum(co) AS co
    FROM (
        SELECT s, t, co FROM co_sparse
        UNION ALL
        SELECT s, t, co FROM co_dense
    ) AS parts
    GROUP BY s, t
    HAVING sum(co) > 0
),
co_totals AS (
    SELECT t, sum(co) AS co
    FROM co
    GROUP BY t
),
sparse_scores AS (
    SELECT s.member_no, s.sku_no, s.score
    FROM (
        SELECT m.member_no, c.t AS sku_no, sum(c.co) AS score
        FROM numbered AS m
        JOIN co AS c ON c.s = m.sku_no
        WHERE m.is_live AND NOT m.dense
        GROUP BY m.member_no, c.t
    ) AS s
    LEFT JOIN numbered AS own ON own.member_no = s.member_no AND own.sku_no = s.sku_no AND NOT own.dense
    WHERE own.sku_no IS NULL
),
missing_sums AS (
    SELECT a.member_no, b.sku_no, sum(c.co) AS co
    FROM missing AS a
    JOIN missing AS b ON b.member_no = a.member_no AND b.sku_no <> a.sku_no
    JOIN co AS c ON c.s = a.sku_no AND c.t = b.sku_no
    WHERE a.is_live AND b.is_live
    GROUP BY a.member_no, b.sku_no
),
dense_scores AS (
    SELECT member_no, sku_no, score
    FROM (
        SELECT m.member_no, m.sku_no, coalesce(t.co, 0) - coalesce(x.co, 0) AS score
        FROM missing AS m
        LEFT JOIN co_totals AS t ON t.t = m.sku_no
        LEFT JOIN missing_sums AS x ON x.member_no = m.member_no AND x.sku_no = m.sku_no
        WHERE m.is_live
    ) AS scored
    WHERE score > 0
),
ranked AS (
    SELECT member_no, sku_no, score, rank
    FROM (
        SELECT
            s.member_no,
            s.sku_no,
            s.score,
            row_number() OVER (PARTITION BY s.member_no ORDER BY s.score DESC, k.buyers DESC, s.sku_no) AS rank
        FROM (
            SELECT member_no, sku_no, score FROM sparse_scores
            UNION ALL
            SELECT member_no, sku_no, score FROM dense_scores
        ) AS s
        JOIN skus AS k ON k.sku_no = s.sku_no
    ) AS ordered
    WHERE rank <= 10
)
SELECT
    'member' AS list,
    b.member_id,
    b.generation,
    NULL AS rank,
    NULL AS sku,
    NULL AS category,
    NULL AS score,
    r.picks
FROM buyer_numbers AS b
LEFT JOIN (
    SELECT member_no, string_agg(CAST(sku_no AS VARCHAR) || ':' || CAST(score AS VARCHAR), ',' ORDER BY rank) AS picks
    FROM ranked
    GROUP BY member_no
) AS r ON r.member_no = b.member_no
WHERE b.is_live
UNION ALL
SELECT
    'erased' AS list,
    e.member_id,
    e.generation,
    NULL AS rank,
    NULL AS sku,
    NULL AS category,
    NULL AS score,
    NULL AS picks
FROM latest_members AS e
WHERE e.status = 'erased'
UNION ALL
SELECT
    'catalogue' AS list,
    NULL AS member_id,
    NULL AS generation,
    k.sku_no AS rank,
    k.sku,
    c.category,
    k.buyers AS score,
    NULL AS picks
FROM skus AS k
LEFT JOIN categories AS c ON c.sku = k.sku
UNION ALL
SELECT
    'cold' AS list,
    NULL AS member_id,
    NULL AS generation,
    k.rank,
    k.sku,
    c.category,
    k.buyers AS score,
    NULL AS picks
FROM (SELECT sku, buyers, row_number() OVER (ORDER BY buyers DESC, sku) AS rank FROM skus) AS k
LEFT JOIN categories AS c ON c.sku = k.sku
WHERE k.rank <= 10
ORDER BY list, member_id, generation, rank
