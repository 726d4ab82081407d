-- The customer-360 row: one per customer who signed up before $as_of, every dimension joined on.
-- build.py prepends the dimension queries as CTEs: f_customers (customers.sql), f_orders (orders.sql),
-- f_web (web.sql), f_service (service.sql), f_campaigns (campaigns.sql).
-- Counts of activity are 0 when there was none; recencies, ratios, shares and means are NULL (NaN) when
-- undefined (no purchase yet, no visit in the window, no contact ...).
SELECT
    c.customer_id,
    c.tenure_days,
    c.consent_marketing,
    c.consent_profiling,
    o.recency_days,
    CAST(COALESCE(o.orders_30d, 0) AS BIGINT) AS orders_30d,
    CAST(COALESCE(o.orders_90d, 0) AS BIGINT) AS orders_90d,
    CAST(COALESCE(o.orders_365d, 0) AS BIGINT) AS orders_365d,
    CAST(COALESCE(o.orders_total, 0) AS BIGINT) AS orders_total,
    CAST(COALESCE(o.spend_90d, 0) AS DOUBLE) AS spend_90d,
    CAST(COALESCE(o.spend_365d, 0) AS DOUBLE) AS spend_365d,
    o.avg_order_value,
    o.mean_gap_days,
    o.gap_ratio,
    CAST(COALESCE(o.category_breadth, 0) AS BIGINT) AS category_breadth,
    o.discount_share,
    o.return_share,
    o.channel_share_web,
    o.channel_share_app,
    o.channel_share_store,
    o.channel_share_phone,
    o.share_evening,
    o.share_weekend,
    o.campaign_order_share,
    o.price_vs_list,
    w.days_since_web,
    CAST(COALESCE(w.web_visits_7d, 0) AS BIGINT) AS web_visits_7d,
    CAST(COALESCE(w.web_visits_30d, 0) AS BIGINT) AS web_visits_30d,
    CAST(COALESCE(w.web_searches_30d, 0) AS BIGINT) AS web_searches_30d,
    CAST(COALESCE(w.web_carts_30d, 0) AS BIGINT) AS web_carts_30d,
    CAST(COALESCE(w.web_events_30d, 0) AS BIGINT) AS web_events_30d,
    w.web_trend_30d,
    w.share_mobile,
    w.share_ios,
    w.referrer_share_campaign,
    w.referrer_share_social,
    w.referrer_share_paid_search,
    w.referrer_share_organic,
    w.referrer_share_affiliate,
    w.referrer_share_direct,
    s.days_since_contact,
    CAST(COALESCE(s.service_contacts_90d, 0) AS BIGINT) AS service_contacts_90d,
    CAST(COALESCE(s.service_contacts_365d, 0) AS BIGINT) AS service_contacts_365d,
    s.unresolved_share,
    s.mean_survey_score,
    s.mean_sentiment,
    k.days_since_exposure,
    CAST(COALESCE(k.exposures_180d, 0) AS BIGINT) AS exposures_180d,
    CAST(COALESCE(k.exposures_total, 0) AS BIGINT) AS exposures_total,
    k.response_share
FROM f_customers AS c
LEFT JOIN f_orders AS o ON c.customer_id = o.customer_id
LEFT JOIN f_web AS w ON c.customer_id = w.customer_id
LEFT JOIN f_service AS s ON c.customer_id = s.customer_id
LEFT JOIN f_campaigns AS k ON c.customer_id = k.customer_id
ORDER BY c.customer_id
