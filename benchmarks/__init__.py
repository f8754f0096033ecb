"""Speed benchmarks (``tox -e bench``) and ``summary.summarize`` for the report."""
