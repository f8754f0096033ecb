"""The user's own test module: one test per conformance check of MyLSTM."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # my_lstm.py beside tests/

from my_lstm import MyLSTM  # noqa: E402

from lstm_conformance.checks import parametrize_with_checks  # noqa: E402


@parametrize_with_checks(MyLSTM, only=["matches-oracle", "batch-independence",
                                       "packed-per-sequence", "bad-input-raises", "lifecycle"])
def test_my_lstm(check):
    check()
