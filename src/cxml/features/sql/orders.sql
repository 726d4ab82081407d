-- Order features: recency, frequency, monetary value, rhythm, breadth, discounts, returns, channel mix,
-- purchase timing and price paid vs list. Reads only order lines with ts < $as_of.
-- A "purchase" is an order with at least one line that was not returned; counts, spend, recency and rhythm
-- use purchases, mixes use every order in the last 365 days. Line value = quantity * unit_price - discount.
-- Values are summed as DECIMAL: a parallel sum of doubles changes in its last bits from run to run, and so
-- would the features, the dataset digest and the name of the study that `--resume` looks for.
-- Speed (bench/features.py): one pass over the order lines. Orders are grouped on (customer, 64-bit hash of
-- order_id), which two orders of one customer share with probability ~1e-19 per pair; an order's channel is a
-- small integer (the first of app, phone, store, web in alphabetical order among its lines); category breadth
-- is a bit mask per order OR-ed per customer, with a second scan only for categories past the 63rd.
WITH categories AS (
    SELECT
        category,
        ROW_NUMBER() OVER (ORDER BY category) - 1 AS category_index
    FROM (SELECT DISTINCT category FROM products WHERE category IS NOT NULL) AS c
),

products_indexed AS (
    SELECT
        p.product_id,
        p.list_price,
        c.category,
        c.category_index
    FROM products AS p
    LEFT JOIN categories AS c ON p.category = c.category
),

lines AS (
    SELECT
        o.customer_id,
        order_key(o.order_id) AS order_key,
        o.ts,
        CASE LOWER(o.channel) WHEN 'app' THEN 1 WHEN 'phone' THEN 2 WHEN 'store' THEN 3 WHEN 'web' THEN 4 ELSE 5 END
            AS channel_code,
        o.campaign_id,
        CASE WHEN NOT o.returned AND p.category_index < 63 THEN category_bit(p.category_index) END AS category_bit,
        NOT o.returned AS kept,
        CAST(CASE WHEN o.returned THEN 0.0 ELSE o.quantity * o.unit_price - o.discount END AS DECIMAL(18, 9))
            AS kept_value,
        NOT o.returned AND o.discount > 0 AS discounted,
        CAST(CASE WHEN NOT o.returned AND p.list_price > 0 THEN o.unit_price / p.list_price END AS DECIMAL(18, 9))
            AS price_ratio
    FROM orders AS o
    LEFT JOIN products_indexed AS p ON o.product_id = p.product_id
    WHERE o.ts < $as_of
),

order_level AS (
    SELECT
        customer_id,
        order_key,
        MIN(ts) AS ts,
        MIN(channel_code) AS channel_code,
        BIT_OR(category_bit) AS category_mask,
        MAX(CASE WHEN campaign_id IS NULL THEN 0 ELSE 1 END) AS from_campaign,
        COUNT(*) AS n_lines,
        COUNT(CASE WHEN kept THEN 1 END) AS n_kept,
        CAST(SUM(kept_value) AS DECIMAL(18, 9)) AS kept_value,
        COUNT(CASE WHEN discounted THEN 1 END) AS n_discounted,
        CAST(SUM(price_ratio) AS DECIMAL(18, 9)) AS price_ratio_sum,
        COUNT(price_ratio) AS price_ratio_n
    FROM lines
    GROUP BY customer_id, order_key
),

orders_flagged AS (
    SELECT
        ol.*,
        n_kept > 0 AS is_purchase,
        ts >= $as_of - INTERVAL '365' DAY AS in_365d
    FROM order_level AS ol
),

-- COUNT(CASE WHEN condition THEN 1 END) counts the orders meeting a condition (portable, BIGINT).
per_customer AS (
    SELECT
        customer_id,
        MIN(CASE WHEN is_purchase THEN ts END) AS first_purchase_at,
        MAX(CASE WHEN is_purchase THEN ts END) AS last_purchase_at,
        COUNT(CASE WHEN is_purchase THEN 1 END) AS n_purchases,
        SUM(kept_value) AS value_total,
        COUNT(CASE WHEN is_purchase AND ts >= $as_of - INTERVAL '30' DAY THEN 1 END) AS orders_30d,
        COUNT(CASE WHEN is_purchase AND ts >= $as_of - INTERVAL '90' DAY THEN 1 END) AS orders_90d,
        COUNT(CASE WHEN is_purchase AND in_365d THEN 1 END) AS orders_365d,
        SUM(CASE WHEN ts >= $as_of - INTERVAL '90' DAY THEN kept_value ELSE 0 END) AS spend_90d,
        SUM(CASE WHEN in_365d THEN kept_value ELSE 0 END) AS spend_365d,
        COUNT(CASE WHEN in_365d THEN 1 END) AS n_orders_365d,
        SUM(CASE WHEN in_365d THEN n_lines END) AS n_lines_365d,
        SUM(CASE WHEN in_365d THEN n_kept END) AS n_kept_365d,
        SUM(CASE WHEN in_365d THEN n_discounted END) AS n_discounted_365d,
        SUM(CASE WHEN in_365d THEN price_ratio_sum END) AS price_ratio_sum_365d,
        SUM(CASE WHEN in_365d THEN price_ratio_n END) AS price_ratio_n_365d,
        COUNT(CASE WHEN in_365d AND channel_code = 4 THEN 1 END) AS n_web_365d,
        COUNT(CASE WHEN in_365d AND channel_code = 1 THEN 1 END) AS n_app_365d,
        COUNT(CASE WHEN in_365d AND channel_code = 3 THEN 1 END) AS n_store_365d,
        COUNT(CASE WHEN in_365d AND channel_code = 2 THEN 1 END) AS n_phone_365d,
        COUNT(CASE WHEN in_365d AND is_evening(ts) = 1 THEN 1 END) AS n_evening_365d,
        COUNT(CASE WHEN in_365d AND is_weekend(ts) = 1 THEN 1 END) AS n_weekend_365d,
        COUNT(CASE WHEN in_365d AND from_campaign = 1 THEN 1 END) AS n_campaign_365d,
        BIT_OR(CASE WHEN in_365d THEN category_mask END) AS category_mask_365d
    FROM orders_flagged
    GROUP BY customer_id
),

-- Categories past the 63rd do not fit the bit mask: counted apart (an empty join, skipped, when there are none).
breadth_rest AS (
    SELECT
        o.customer_id,
        COUNT(DISTINCT p.category) AS n_categories
    FROM orders AS o
    INNER JOIN products_indexed AS p ON o.product_id = p.product_id AND p.category_index >= 63
    WHERE o.ts < $as_of AND o.ts >= $as_of - INTERVAL '365' DAY AND NOT o.returned
    GROUP BY o.customer_id
)

SELECT
    c.customer_id,
    days_between(c.last_purchase_at, $as_of) AS recency_days,
    c.orders_30d,
    c.orders_90d,
    c.orders_365d,
    c.n_purchases AS orders_total,
    c.spend_90d,
    c.spend_365d,
    c.value_total / NULLIF(c.n_purchases, 0) AS avg_order_value,
    CASE WHEN c.n_purchases >= 2
        THEN days_between(c.first_purchase_at, c.last_purchase_at) / (c.n_purchases - 1)
    END AS mean_gap_days,
    CASE WHEN c.n_purchases >= 2
        THEN days_between(c.last_purchase_at, $as_of)
            / NULLIF(days_between(c.first_purchase_at, c.last_purchase_at) / (c.n_purchases - 1), 0)
    END AS gap_ratio,
    COALESCE(BIT_COUNT(c.category_mask_365d), 0) + COALESCE(b.n_categories, 0) AS category_breadth,
    c.n_discounted_365d / NULLIF(c.n_kept_365d, 0) AS discount_share,
    (c.n_lines_365d - c.n_kept_365d) / NULLIF(c.n_lines_365d, 0) AS return_share,
    c.n_web_365d / NULLIF(c.n_orders_365d, 0) AS channel_share_web,
    c.n_app_365d / NULLIF(c.n_orders_365d, 0) AS channel_share_app,
    c.n_store_365d / NULLIF(c.n_orders_365d, 0) AS channel_share_store,
    c.n_phone_365d / NULLIF(c.n_orders_365d, 0) AS channel_share_phone,
    c.n_evening_365d / NULLIF(c.n_orders_365d, 0) AS share_evening,
    c.n_weekend_365d / NULLIF(c.n_orders_365d, 0) AS share_weekend,
    c.n_campaign_365d / NULLIF(c.n_orders_365d, 0) AS campaign_order_share,
    c.price_ratio_sum_365d / NULLIF(c.price_ratio_n_365d, 0) AS price_vs_list
FROM per_customer AS c
LEFT JOIN breadth_rest AS b ON c.customer_id = b.customer_id
