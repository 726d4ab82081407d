-- Campaign exposure and response history. Only treated exposures count (the control arm received nothing)
-- and only those sent before $as_of. An exposure is answered when the customer placed a kept order carrying
-- that campaign_id at or after sent_at and before $as_of.
WITH treated AS (
    SELECT customer_id, campaign_id, sent_at
    FROM exposures
    WHERE sent_at < $as_of AND arm <> 'control'
),

campaign_orders AS (
    SELECT customer_id, campaign_id, MAX(ts) AS last_ts
    FROM orders
    WHERE ts < $as_of AND campaign_id IS NOT NULL AND NOT returned
    GROUP BY customer_id, campaign_id
),

answered AS (
    SELECT
        t.customer_id,
        t.sent_at,
        CASE WHEN co.last_ts >= t.sent_at THEN 1 ELSE 0 END AS responded
    FROM treated AS t
    LEFT JOIN campaign_orders AS co
        ON t.customer_id = co.customer_id AND t.campaign_id = co.campaign_id
)

SELECT
    customer_id,
    days_between(MAX(sent_at), $as_of) AS days_since_exposure,
    SUM(CASE WHEN sent_at >= $as_of - INTERVAL '180' DAY THEN 1 ELSE 0 END) AS exposures_180d,
    COUNT(*) AS exposures_total,
    AVG(responded) AS response_share
FROM answered
GROUP BY customer_id
