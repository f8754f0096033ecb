"""``lstm_conformance``, the suite's one import package; this folder is the package itself,
with ``spec/`` and ``implementations/`` of the repository as its subpackages
``lstm_conformance.spec`` and ``lstm_conformance.implementations`` (``package-dir`` in
pyproject.toml). This folder's modules are the runner: it discovers implementations,
applies every invariant to each under pytest and hypothesis, collects the outcomes into
``results.json`` and renders the report.

Importing this package (or loading the pytest plugin) imports no implementation, and
nothing heavier than the standard library: a pytest session that is not a conformance run
loads only this package and ``lstm_conformance.plugin``.

PYTEST_DONT_REWRITE: pytest marks every top-level package of a ``pytest11`` distribution
for assertion rewriting, and ``lstm-conformance`` / ``python -m lstm_conformance`` import
this package before they start pytest; without this marker pytest warns that it is "already
imported so cannot be rewritten". It holds no assertion to rewrite; its modules still are.
"""
