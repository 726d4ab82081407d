"""Point-in-time customer-360 features (SQL on DuckDB), churn labels and the feature registry."""
