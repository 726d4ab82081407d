-- Digital behaviour: engagement (visits, searches, carts), its trend, device/OS mix and referral sources.
-- Reads only events with ts < $as_of. An event that arrived with only an identifier (a cookie, a device id)
-- is attributed to its customer through the identities table before anything is counted; events whose
-- identifier resolves to no customer are left out.
WITH attributed AS (
    SELECT customer_id, ts, event_type, device, os, referrer_type
    FROM events
    WHERE ts < $as_of AND customer_id IS NOT NULL
    UNION ALL
    SELECT i.customer_id, e.ts, e.event_type, e.device, e.os, e.referrer_type
    FROM events AS e
    INNER JOIN identities AS i ON e.identifier = i.identifier
    WHERE e.ts < $as_of AND e.customer_id IS NULL AND i.customer_id IS NOT NULL
),

flagged AS (
    SELECT
        customer_id,
        ts,
        LOWER(event_type) AS event_type,
        ts >= $as_of - INTERVAL '7' DAY AS in_7d,
        ts >= $as_of - INTERVAL '30' DAY AS in_30d,
        ts >= $as_of - INTERVAL '60' DAY AND ts < $as_of - INTERVAL '30' DAY AS in_prev_30d,
        ts >= $as_of - INTERVAL '365' DAY AS in_365d,
        LOWER(device) IN ('mobile', 'tablet') AS is_mobile,
        LOWER(os) IN ('ios', 'ipados') AS is_ios,
        LOWER(referrer_type) AS referrer_type
    FROM attributed
),

-- COUNT(CASE WHEN condition THEN 1 END) counts the rows meeting a condition (portable, BIGINT).
per_customer AS (
    SELECT
        customer_id,
        MAX(ts) AS last_event_at,
        COUNT(CASE WHEN in_7d AND event_type = 'visit' THEN 1 END) AS web_visits_7d,
        COUNT(CASE WHEN in_30d AND event_type = 'visit' THEN 1 END) AS web_visits_30d,
        COUNT(CASE WHEN in_30d AND event_type = 'search' THEN 1 END) AS web_searches_30d,
        COUNT(CASE WHEN in_30d AND event_type = 'cart' THEN 1 END) AS web_carts_30d,
        COUNT(CASE WHEN in_30d THEN 1 END) AS web_events_30d,
        COUNT(CASE WHEN in_prev_30d THEN 1 END) AS web_events_prev_30d,
        COUNT(CASE WHEN in_365d THEN 1 END) AS n_365d,
        COUNT(CASE WHEN in_365d AND is_mobile THEN 1 END) AS n_mobile_365d,
        COUNT(CASE WHEN in_365d AND is_ios THEN 1 END) AS n_ios_365d,
        COUNT(CASE WHEN in_365d AND referrer_type = 'campaign' THEN 1 END) AS n_ref_campaign,
        COUNT(CASE WHEN in_365d AND referrer_type = 'social' THEN 1 END) AS n_ref_social,
        COUNT(CASE WHEN in_365d AND referrer_type = 'paid_search' THEN 1 END) AS n_ref_paid_search,
        COUNT(CASE WHEN in_365d AND referrer_type = 'organic' THEN 1 END) AS n_ref_organic,
        COUNT(CASE WHEN in_365d AND referrer_type = 'affiliate' THEN 1 END) AS n_ref_affiliate,
        COUNT(CASE WHEN in_365d AND referrer_type = 'direct' THEN 1 END) AS n_ref_direct
    FROM flagged
    GROUP BY customer_id
)

SELECT
    customer_id,
    days_between(last_event_at, $as_of) AS days_since_web,
    web_visits_7d,
    web_visits_30d,
    web_searches_30d,
    web_carts_30d,
    web_events_30d,
    (web_events_30d - web_events_prev_30d) / NULLIF(web_events_30d + web_events_prev_30d, 0) AS web_trend_30d,
    n_mobile_365d / NULLIF(n_365d, 0) AS share_mobile,
    n_ios_365d / NULLIF(n_365d, 0) AS share_ios,
    n_ref_campaign / NULLIF(n_365d, 0) AS referrer_share_campaign,
    n_ref_social / NULLIF(n_365d, 0) AS referrer_share_social,
    n_ref_paid_search / NULLIF(n_365d, 0) AS referrer_share_paid_search,
    n_ref_organic / NULLIF(n_365d, 0) AS referrer_share_organic,
    n_ref_affiliate / NULLIF(n_365d, 0) AS referrer_share_affiliate,
    n_ref_direct / NULLIF(n_365d, 0) AS referrer_share_direct
FROM per_customer
