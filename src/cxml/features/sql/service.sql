-- Service contacts and how they went: volume, unresolved share, survey score and sentiment.
-- Reads only contacts with ts < $as_of; the quality measures cover the last 365 days. A missing score may
-- arrive as NULL or as NaN (Parquet written from NumPy): both mean "not measured".
WITH recent AS (
    SELECT
        customer_id,
        ts,
        CASE WHEN ts >= $as_of - INTERVAL '90' DAY THEN 1 ELSE 0 END AS in_90d,
        CASE WHEN ts >= $as_of - INTERVAL '365' DAY THEN 1 ELSE 0 END AS in_365d,
        CASE WHEN resolved THEN 0 ELSE 1 END AS unresolved,
        -- DECIMAL: averages that do not depend on the order the threads add them up (see orders.sql)
        CAST(CASE WHEN isnan(survey_score) THEN NULL ELSE survey_score END AS DECIMAL(18, 9)) AS survey_score,
        CAST(CASE WHEN isnan(sentiment) THEN NULL ELSE sentiment END AS DECIMAL(18, 9)) AS sentiment
    FROM service_contacts
    WHERE ts < $as_of
)

SELECT
    customer_id,
    days_between(MAX(ts), $as_of) AS days_since_contact,
    SUM(in_90d) AS service_contacts_90d,
    SUM(in_365d) AS service_contacts_365d,
    SUM(in_365d * unresolved) / NULLIF(SUM(in_365d), 0) AS unresolved_share,
    AVG(CASE WHEN in_365d = 1 THEN survey_score END) AS mean_survey_score,
    AVG(CASE WHEN in_365d = 1 THEN sentiment END) AS mean_sentiment
FROM recent
GROUP BY customer_id
