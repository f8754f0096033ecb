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
    """An invariant does not hold.

    ``detail`` is the JSON-able description of the difference (``detail["check"]`` names
    the comparison); ``tensors``, when the violation compared two tensors, holds them
    (float64, ``expected`` and ``actual``, with their ``dims``) for the report's pictures.
    """

    def __init__(self, message: str, detail: dict | None = None, *,
                 tensors: dict | None = None) -> None:
        super().__init__(message)
        self.detail = detail or {}
        self.tensors = tensors


class ImplementationError(Exception):
    """The implementation under test raised, or returned junk.

    ``kind`` is a stable key for what went wrong (``"raised"``, ``"returned"``,
    ``"check-crashed"``); ``exception`` the qualified name of what it raised, if anything;
    ``replayed`` the conditions of ``spec.capabilities.REPLAYED`` that the check showed by
    replaying its own call (a malformed input without hx that raises nn.LSTM's error once
    the case's (h0, c0) is passed: ``default_state``).
    """

    def __init__(self, message: str, *, kind: str = "raised",
                 exception: str | None = None,
                 replayed: frozenset[str] = frozenset()) -> None:
        super().__init__(message)
        self.kind = kind
        self.exception = exception
        self.replayed = replayed

    @property
    def key(self) -> str:
        """``error:raised:RuntimeError``: the kind of a result's error (``results.json``)."""
        return f"error:{self.kind}:{self.exception or ''}"


class NotApplicable(Exception):
    """This case is outside what the implementation supports."""


class DeclarationError(Exception):
    """A record of the specification (an invariant, its cases) is malformed; raised when
    the module that declares it is imported."""


def qualified_name(cls: type) -> str:
    """``torch.nn.utils.rnn.PackedSequence``, not ``PackedSequence``: a look-alike from
    another module must not read as the real thing."""
    module = getattr(cls, "__module__", None)
    return cls.__qualname__ if module in (None, "builtins") else f"{module}.{cls.__qualname__}"
