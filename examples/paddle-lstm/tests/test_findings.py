"""The difference the adapter declares (``no_bias``): Paddle's LSTM without biases crashes
the process, so it is reproduced in a child process (repro_no_bias_segfault.py, paddle
and numpy only). The test asserts the crash is *there*; when it starts failing, Paddle
has fixed it, and ``no_bias`` should leave the declared gaps.
"""

import signal
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("repro_no_bias_segfault.py")


def test_lstm_without_bias_crashes_the_process():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode in (-signal.SIGSEGV, 128 + signal.SIGSEGV), done.stdout
    assert "no crash" not in done.stdout
