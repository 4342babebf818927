-- §21 bought_category / bought_sku: the distinct categories and skus of the items of each
-- live member's purchases dated within :window_start..:as_of_date (refunded or not).
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
)
SELECT DISTINCT i.member_id, i.generation, i.category, i.sku
FROM earn_items AS i
JOIN live AS l ON l.member_id = i.member_id AND l.generation = i.generation
WHERE i.occurred_date BETWEEN :window_start AND :as_of_date
ORDER BY i.member_id, i.generation, i.category, i.sku
