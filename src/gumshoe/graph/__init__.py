"""Behavior-graph stores (DuckDB) and the queries over them."""
