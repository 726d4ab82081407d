-- Dialect shim: the only engine-specific SQL. Every other file in this folder is portable
-- (CTEs, GROUP BY, CASE, NULLIF, INTERVAL '<n>' DAY arithmetic, a bound parameter $as_of).
-- On Spark SQL, define the same five functions and bind :as_of instead of $as_of:
--   CREATE TEMPORARY FUNCTION days_between(a TIMESTAMP, b TIMESTAMP) RETURNS DOUBLE
--     RETURN (unix_micros(b) - unix_micros(a)) / 86400000000.0;
--   CREATE TEMPORARY FUNCTION is_weekend(t TIMESTAMP) RETURNS INT
--     RETURN CASE WHEN extract(DAYOFWEEK_ISO FROM t) >= 6 THEN 1 ELSE 0 END;
--   CREATE TEMPORARY FUNCTION is_evening(t TIMESTAMP) RETURNS INT
--     RETURN CASE WHEN hour(t) >= 17 THEN 1 ELSE 0 END;
--   CREATE TEMPORARY FUNCTION order_key(id STRING) RETURNS BIGINT RETURN xxhash64(id);
--   CREATE TEMPORARY FUNCTION category_bit(i BIGINT) RETURNS BIGINT RETURN shiftleft(CAST(1 AS BIGINT), i);
CREATE OR REPLACE TEMP MACRO days_between(a, b) AS (epoch_us(b) - epoch_us(a)) / 86400000000.0;
CREATE OR REPLACE TEMP MACRO is_weekend(t) AS CASE WHEN isodow(t) >= 6 THEN 1 ELSE 0 END;
CREATE OR REPLACE TEMP MACRO is_evening(t) AS CASE WHEN hour(t) >= 17 THEN 1 ELSE 0 END;
CREATE OR REPLACE TEMP MACRO order_key(id) AS hash(id);
CREATE OR REPLACE TEMP MACRO category_bit(i) AS CAST(1 AS BIGINT) << CAST(i AS BIGINT);
