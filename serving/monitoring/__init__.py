"""Monitoring in the service (R32): the ledger read into the decisions frame, alerts recorded.

The computations live in :mod:`audits.monitoring`; this package reads the ledger
(:mod:`serving.monitoring.reader`), records alerts as ``admin`` entries and reads
their current state back (:mod:`serving.monitoring.state`), sends the optional
webhook and renders the HTML page.
"""
