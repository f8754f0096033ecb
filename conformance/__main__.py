"""``python -m lstm_conformance``: the ``lstm-conformance`` command, with this interpreter."""

import sys

from lstm_conformance.cli import main

sys.exit(main())
