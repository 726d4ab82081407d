-- The population and its static attributes: every customer who signed up before $as_of.
SELECT
    customer_id,
    days_between(signup_at, $as_of) AS tenure_days,
    CASE WHEN consent_marketing THEN 1 ELSE 0 END AS consent_marketing,
    CASE WHEN consent_profiling THEN 1 ELSE 0 END AS consent_profiling
FROM customers
WHERE signup_at < $as_of
