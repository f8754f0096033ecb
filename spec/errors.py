"""The three ways a check can end other than passing.

* ``Violation`` (an ``AssertionError``): the implementation ran and broke an invariant.
  The test is *failed*.
* ``ImplementationError``: the implementation raised, or returned something that is not
  an LSTM result. The test is an *error*.
* ``NotApplicable``: the case needs something the implementation does not support
  (a declared gap, or ``NotImplementedError`` from its constructor).
"""

from __future__ import annotations


class Violation(AssertionError):
    """An invariant does not hold; ``detail`` is the JSON-able counterexample detail."""

    def __init__(self, message: str, detail: dict | None = None) -> None:
        super().__init__(message)
        self.detail = detail or {}


class ImplementationError(Exception):
    """The implementation under test raised, or returned junk."""


class NotApplicable(Exception):
    """This case is outside what the implementation supports."""
