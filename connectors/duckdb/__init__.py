"""DuckDB sink: append or upsert Arrow batches into a DuckDB database file."""
