-- Dialect shim for Spark SQL: the twin of macros.duckdb.sql, the same five functions as SQL UDFs (Spark inlines
-- them into the plan, so they cost what the expression costs). features/spark.py runs each statement, then
-- the feature files translated from DuckDB by SQLGlot. order_key only has to group the lines of one order, so
-- xxhash64 stands in for DuckDB's hash; days_between divides by a DOUBLE literal as DuckDB does.
CREATE OR REPLACE TEMPORARY FUNCTION days_between(a TIMESTAMP, b TIMESTAMP) RETURNS DOUBLE
    RETURN (unix_micros(b) - unix_micros(a)) / 86400000000D;
CREATE OR REPLACE TEMPORARY FUNCTION is_weekend(t TIMESTAMP) RETURNS INT
    RETURN CASE WHEN extract(DAYOFWEEK_ISO FROM t) >= 6 THEN 1 ELSE 0 END;
CREATE OR REPLACE TEMPORARY FUNCTION is_evening(t TIMESTAMP) RETURNS INT
    RETURN CASE WHEN hour(t) >= 17 THEN 1 ELSE 0 END;
CREATE OR REPLACE TEMPORARY FUNCTION order_key(id STRING) RETURNS BIGINT
    RETURN xxhash64(id);
CREATE OR REPLACE TEMPORARY FUNCTION category_bit(i BIGINT) RETURNS BIGINT
    RETURN shiftleft(CAST(1 AS BIGINT), CAST(i AS INT));
