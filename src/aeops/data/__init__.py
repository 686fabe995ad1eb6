"""Data: sources, schema, expectations, splits and preprocessing."""
