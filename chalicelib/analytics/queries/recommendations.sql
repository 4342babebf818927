-- §23 recommendations, from the items of the purchases (the latest rows of `earn` transactions,
-- refunded or not) dated within :window_start..:as_of_date (the 365 dates ending with as_of's
-- date), recorded by :as_of_time. Every buyer counts, erased or not (anonymous numbers):
--   buyers(s) = distinct members who bought s; co(s, t) = distinct members who bought both.
-- A member is (member_id, generation). Rows:
--   list 'member': one row per candidate of a live buyer (rank 1..10: score desc, buyers desc,
--       sku asc; score = sum of co(s, t) over the skus s the member bought, t not bought; a sum
--       of co >= 1, so a zero score never appears), or one row with rank NULL when it has none;
--   list 'erased': one row per erased member (rank NULL): it has no list;
--   list 'cold': the cold-start list (member NULL; score = buyers; buyers desc, sku asc; 1..10).
-- `category` of a sku: that of its latest purchase item by occurred_at, then by recording (the
-- transaction's first row, then the item's line).
-- At scale: the work is on DISTINCT (member, sku) pairs; co is one self-join of the pairs grouped
-- by (s, t); scores join each member's pairs with co on s.
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
latest_transactions AS (
    SELECT *
    FROM (
        SELECT
            t.*,
            row_number() OVER (PARTITION BY t.transaction_id ORDER BY t.seq DESC) AS rn,
            min(t.seq) OVER (PARTITION BY t.transaction_id) AS recorded_seq
        FROM transactions AS t
    ) AS ranked
    WHERE rn = 1
),
purchase_items AS (
    SELECT i.member_id, i.generation, i.sku, i.category, p.occurred_at, p.recorded_seq, i.line
    FROM earn_items AS i
    JOIN latest_transactions AS p ON p.transaction_id = i.transaction_id
    WHERE p.type = 'earn'
        AND p.created_at <= :as_of_time
        AND p.occurred_date BETWEEN :window_start AND :as_of_date
        AND i.sku IS NOT NULL
),
pairs AS (
    SELECT DISTINCT member_id, generation, sku
    FROM purchase_items
),
buyers AS (
    SELECT sku, count(*) AS buyers
    FROM pairs
    GROUP BY sku
),
categories AS (
    SELECT sku, category
    FROM (
        SELECT
            sku,
            category,
            row_number() OVER (PARTITION BY sku ORDER BY occurred_at DESC, recorded_seq DESC, line DESC) AS rn
        FROM purchase_items
    ) AS ranked
    WHERE rn = 1
),
co AS (
    SELECT a.sku AS s, b.sku AS t, count(*) AS co
    FROM pairs AS a
    JOIN pairs AS b ON b.member_id = a.member_id AND b.generation = a.generation AND b.sku <> a.sku
    GROUP BY a.sku, b.sku
),
live_pairs AS (
    SELECT p.member_id, p.generation, p.sku
    FROM pairs AS p
    JOIN live AS l ON l.member_id = p.member_id AND l.generation = p.generation
),
live_buyers AS (
    SELECT DISTINCT member_id, generation
    FROM live_pairs
),
summed AS (
    SELECT m.member_id, m.generation, c.t AS sku, sum(c.co) AS score
    FROM live_pairs AS m
    JOIN co AS c ON c.s = m.sku
    GROUP BY m.member_id, m.generation, c.t
),
candidates AS (
    SELECT s.member_id, s.generation, s.sku, s.score, b.buyers
    FROM summed AS s
    JOIN buyers AS b ON b.sku = s.sku
    LEFT JOIN live_pairs AS own
        ON own.member_id = s.member_id AND own.generation = s.generation AND own.sku = s.sku
    WHERE own.sku IS NULL
),
ranked AS (
    SELECT
        member_id,
        generation,
        sku,
        score,
        row_number() OVER (PARTITION BY member_id, generation ORDER BY score DESC, buyers DESC, sku) AS rank
    FROM candidates
),
cold AS (
    SELECT sku, buyers, row_number() OVER (ORDER BY buyers DESC, sku) AS rank
    FROM buyers
)
SELECT 'member' AS list, lb.member_id, lb.generation, r.rank, r.sku, c.category, r.score
FROM live_buyers AS lb
LEFT JOIN ranked AS r ON r.member_id = lb.member_id AND r.generation = lb.generation AND r.rank <= 10
LEFT JOIN categories AS c ON c.sku = r.sku
UNION ALL
SELECT 'erased' AS list, e.member_id, e.generation, NULL AS rank, NULL AS sku, NULL AS category, NULL AS score
FROM latest_members AS e
WHERE e.status = 'erased'
UNION ALL
SELECT 'cold' AS list, NULL AS member_id, NULL AS generation, k.rank, k.sku, c.category, k.buyers AS score
FROM cold AS k
LEFT JOIN categories AS c ON c.sku = k.sku
WHERE k.rank <= 10
ORDER BY list, member_id, generation, rank
