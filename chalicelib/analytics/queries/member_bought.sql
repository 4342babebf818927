-- §21 bought_category / bought_sku: the categories and skus of the items of each live member's
-- purchases dated within :window_start..:as_of_date (refunded or not), as rows (member_id,
-- generation, category, sku). The `named` table is one row meaning every category and sku;
-- `sql.render_named` makes it the (field, value) pairs the segment rules name, and then only
-- those come back (category or sku, the other null): the rows grow with the rules, not with
-- the catalogue. The items are filtered to the named values before anything is joined (an item
-- of a value no rule names costs its scan, nothing more).
WITH named AS (
    SELECT TRUE AS every_value, 'category' AS field, '' AS value
),
latest_members AS (
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
named_items AS (
    SELECT i.member_id, i.generation, i.category, i.sku
    FROM earn_items AS i
    WHERE
        i.occurred_date BETWEEN :window_start AND :as_of_date
        AND (
            EXISTS (SELECT 1 FROM named WHERE every_value)
            OR i.category IN (SELECT value FROM named WHERE field = 'category' AND NOT every_value)
            OR i.sku IN (SELECT value FROM named WHERE field = 'sku' AND NOT every_value)
        )
),
window_items AS (
    SELECT i.member_id, i.generation, i.category, i.sku
    FROM named_items AS i
    JOIN live AS l ON l.member_id = i.member_id AND l.generation = i.generation
)
SELECT DISTINCT member_id, generation, category, sku
FROM (
    SELECT w.member_id, w.generation, w.category, w.sku
    FROM window_items AS w
    WHERE EXISTS (SELECT 1 FROM named WHERE every_value)
    UNION ALL
    SELECT w.member_id, w.generation, n.value AS category, CAST(NULL AS VARCHAR) AS sku
    FROM window_items AS w
    JOIN named AS n ON n.field = 'category' AND n.value = w.category AND NOT n.every_value
    UNION ALL
    SELECT w.member_id, w.generation, CAST(NULL AS VARCHAR) AS category, n.value AS sku
    FROM window_items AS w
    JOIN named AS n ON n.field = 'sku' AND n.value = w.sku AND NOT n.every_value
) AS found
ORDER BY member_id, generation, category, sku
