"""``python -m conformance``: the ``lstm-conformance`` command, with this interpreter."""

import sys

from conformance.cli import main

sys.exit(main())
