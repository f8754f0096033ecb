"""Root pytest wiring.

The conformance plugin itself arrives through the ``pytest11`` entry point of the
installed project (``lstm_conformance.plugin``); it adds ``--lstm-impl``, ``--lstm-profile``,
``--lstm-report-dir`` and ``--lstm-list-impls``. Here: the hypothesis profile for the project's
own tests under ``tests/`` (no deadline: the implementations run real LSTMs).
"""

from hypothesis import settings

settings.register_profile("lstm-conformance-tests", deadline=None, print_blob=True)
settings.load_profile("lstm-conformance-tests")
