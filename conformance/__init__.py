"""The runner: discovers implementations, applies every invariant to each under pytest and
hypothesis, collects the outcomes into ``results.json`` and renders the report.

Importing this package (or loading the pytest plugin) imports no implementation.
"""
