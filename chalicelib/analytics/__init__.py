"""Analytics (contract §17–§21): the columnar copy of the facts and the engines
that query it. Never imported by the API function (see
tests/integration/test_cold_start_imports.py): the API reads only stored results."""
