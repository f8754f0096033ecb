"""Assert helpers: one message shape everywhere.

A failure names the quantity, what was expected, what came back, and the worst element::

    h_n[1] (top layer, backward) != output[0, :, 4:]: max |diff| 0.31 at batch=2,
    feature=1: expected 0.12, got 0.43 (tolerance atol=1e-05, rtol=1.3e-06)

Every helper raises ``spec.errors.Violation`` with a JSON-able ``detail`` that the report
shows as the counterexample's difference. ``detail["check"]`` is a stable key naming
which comparison failed (``"oracle"``, ``"gate-probe"``, ...): tests and hints match on
it, never on the wording of the message.

Every numeric comparison also reports how close it came to its limit (the largest
|diff| / (atol + rtol |expected|)) to the observer set with ``observing_ratios``; the
runner keeps the largest per check (``max_ratio`` in results.json).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence

import torch

from lstm_conformance.spec.errors import Violation
from lstm_conformance.spec.tolerance import EXACT, Tolerance

_ratio_observer: contextvars.ContextVar[Callable[[float], None] | None] = \
    contextvars.ContextVar("ratio_observer", default=None)


@contextlib.contextmanager
def observing_ratios(observer: Callable[[float], None]) -> Iterator[None]:
    """Within the block, ``observer(ratio)`` hears every numeric comparison's ratio."""
    token = _ratio_observer.set(observer)
    try:
        yield
    finally:
        _ratio_observer.reset(token)


def where(index: Sequence[int], dims: Sequence[str] | None) -> str:
    """``batch=2, feature=1`` for an index into a tensor whose dimensions are ``dims``."""
    if dims and len(dims) == len(index):
        return ", ".join(f"{d}={i}" for d, i in zip(dims, index, strict=True))
    return str(list(index))


def assert_shape(tensor: torch.Tensor, shape: Sequence[int], what: str, *,
                 check: str = "shape", name: str | None = None) -> None:
    """``tensor.shape == shape``; ``name`` says which result it is (output, h_n, c_n)."""
    __tracebackhide__ = True
    if tuple(tensor.shape) != tuple(shape):
        raise Violation(
            f"{what}: shape {tuple(tensor.shape)}, expected {tuple(shape)}",
            {"check": check, "tensor": name, "quantity": what,
             "actual_shape": list(tensor.shape), "expected_shape": list(shape)},
        )


def assert_finite(tensor: torch.Tensor, what: str, dims: Sequence[str] | None = None, *,
                  check: str = "finite") -> None:
    """No NaN or inf in ``tensor``."""
    __tracebackhide__ = True
    bad = ~torch.isfinite(tensor)
    if bad.any():
        index = [int(i) for i in bad.nonzero()[0]]
        value = float(tensor[tuple(index)])
        raise Violation(
            f"{what}: {int(bad.sum())} non-finite value(s), first {value} at {where(index, dims)}",
            {"check": check, "quantity": what, "index": index, "actual": value},
        )


def expected_and_got(expected: float, got: float) -> str:
    """``expected -0.0505183, got -0.0505184``: six significant digits, or as many more as
    it takes for two different values to read differently (a float64 difference of 3e-10
    needs ten)."""
    for digits in range(6, 18):
        e, g = f"{expected:.{digits}g}", f"{got:.{digits}g}"
        if e != g or expected == got:
            break
    return f"expected {e}, got {g}"


def assert_close(
    actual: torch.Tensor,
    expected: torch.Tensor,
    what: str,
    tol: Tolerance,
    dims: Sequence[str] | None = None,
    *,
    check: str,
    name: str | None = None,
) -> None:
    """``actual == expected`` elementwise, within ``tol`` (``torch.equal`` when exact).

    ``what`` reads as the claim, e.g. ``"h_n[0] (top layer, forward) vs output[-1, :, :4]"``;
    ``check`` is the stable key of this comparison, ``name`` which result it compares
    (output, h_n, c_n), when it is one of them. Both tensors must have the same shape;
    a NaN or inf in ``actual`` where ``expected`` is finite is always a violation.
    """
    __tracebackhide__ = True
    assert_shape(actual, expected.shape, what, check=check, name=name)
    if actual.numel() == 0:
        return
    # On the CPU, where the oracle lives: a module on a device has its parameters and
    # their gradients there.
    a = actual.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    finite = torch.isfinite(e)
    if not torch.isfinite(a[finite]).all():
        assert_finite(torch.where(finite, a, torch.zeros_like(a)), what, dims, check=check)
    diff = (a - e).abs()
    if tol.exact:
        bad = a != e
    else:
        allowed = tol.atol + tol.rtol * e.abs()
        bad = diff > allowed
        observer = _ratio_observer.get()
        if observer is not None:
            both_nan = torch.isnan(a) & torch.isnan(e)
            observer(float(torch.where(both_nan, 0.0, diff / allowed).max()))
    bad &= ~(torch.isnan(a) & torch.isnan(e))
    if not bad.any():
        return
    masked = torch.where(bad, diff.nan_to_num(nan=float("inf")), torch.zeros_like(diff))
    flat = int(masked.argmax())
    index = [int(i) for i in torch.unravel_index(torch.tensor(flat), a.shape)]
    worst = float(diff.flatten()[flat])
    exp, got = float(e.flatten()[flat]), float(a.flatten()[flat])
    raise Violation(
        f"{what}: max |diff| {worst:.3g} at {where(index, dims)}: "
        f"{expected_and_got(exp, got)}; {int(bad.sum())} of {bad.numel()} elements differ "
        f"(tolerance {tol})",
        {
            "check": check,
            "tensor": name,
            "quantity": what,
            "index": index,
            "expected": exp,
            "actual": got,
            "max_abs_diff": worst,
            "elements_differing": int(bad.sum()),
            "tolerance": tol.as_dict(),
        },
        tensors={"expected": e, "actual": a, "dims": list(dims) if dims else None},
    )


def assert_equal(actual: torch.Tensor, expected: torch.Tensor, what: str,
                 dims: Sequence[str] | None = None, *, check: str,
                 name: str | None = None) -> None:
    """Bitwise equality: for quantities that are by definition the same numbers."""
    __tracebackhide__ = True
    assert_close(actual, expected, what, EXACT, dims, check=check, name=name)
