"""Durable runs on DBOS: run → jobs (a DAG of child workflows) → steps.

Apart from `app.py`'s wiring, this package is the only code that imports `dbos`.
"""
