"""The invariant catalogue: what a conformant LSTM is, top to bottom.

Each invariant has a stable kebab-case id, a one-sentence statement, the exact tensor
expression it checks, the capabilities it needs (``requires``), the cases it is checked
on (keywords for ``spec.strategies.cases``), and the check itself. Adding an invariant
is one ``@invariant`` function here; the runner and the report pick it up.

Notation: the output ``o`` is read seq-first, ``o[t, n, :]``, whatever batch_first
says (and padded with zeros for packed input). ``D`` is 2 if bidirectional else 1,
``H_o`` is proj_size or hidden_size, ``top = (num_layers-1)*D`` is the row of the top
layer's forward direction in h_n / c_n (rows are ``layer*D + direction``), ``T`` the
sequence length and ``len_b`` sequence b's true length.

The notes' four observations come first: output and state shapes; the forward h_n is
the output's last step; the backward h_n is the output's first step (backward half);
h_n / c_n stack the layers, layer-major. Then batch_first and the oracle, then the rest.
Tolerances: ``spec.tolerance``; exact comparisons are where both sides are by
definition the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from hypothesis import strategies as st

from spec import tolerance
from spec.asserts import assert_close, assert_equal
from spec.case import Case
from spec.errors import Violation
from spec.harness import OUTPUT_DIMS, STATE_DIMS, Subject
from spec.oracle import lstm_forward
from spec.strategies import cases


@dataclass(frozen=True)
class Invariant:
    id: str
    title: str
    statement: str
    expression: str
    check: Callable[[Subject, Case], None] = field(repr=False)
    requires: frozenset[str] = frozenset()
    case_kw: dict = field(default_factory=dict, repr=False)
    draws: Callable | None = field(default=None, repr=False)
    catches: tuple[str, ...] = ()

    def missing(self, supported: frozenset[str]) -> frozenset[str]:
        """The required capabilities ``supported`` lacks: non-empty means not applicable."""
        return self.requires - supported

    def strategy(self, supported: frozenset[str]):
        """Cases for this invariant, within what the implementation supports.

        When the check needs more than a case (a split point, a permutation), the
        strategy draws ``(case, extra)``.
        """
        base = cases(supported=supported, **self.case_kw)
        if self.draws is None:
            return base
        return base.flatmap(lambda case: st.tuples(st.just(case), self.draws(case)))

    def describe(self) -> dict:
        return {"id": self.id, "title": self.title, "statement": self.statement,
                "expression": self.expression, "requires": sorted(self.requires),
                "catches": list(self.catches)}


INVARIANTS: list[Invariant] = []


def invariant(id: str, title: str, statement: str, expression: str, *,
              requires: tuple[str, ...] = (), draws: Callable | None = None,
              catches: tuple[str, ...] = (), **case_kw):
    """Register the decorated check as an invariant (in definition order)."""

    def register(check):
        INVARIANTS.append(Invariant(
            id=id, title=title, statement=statement, expression=expression, check=check,
            requires=frozenset(requires), case_kw=case_kw, draws=draws, catches=catches,
        ))
        return check

    return register


def by_id(invariant_id: str) -> Invariant:
    for inv in INVARIANTS:
        if inv.id == invariant_id:
            return inv
    raise KeyError(f"no invariant {invariant_id!r}; known: {[i.id for i in INVARIANTS]}")


# -- small helpers ------------------------------------------------------------------------

def _tol(case: Case) -> tolerance.Tolerance:
    return tolerance.forward(case.dtype)


def _top(case: Case) -> int:
    return (case.config.num_layers - 1) * case.config.num_directions


def _layer(case: Case, k: int) -> Case:
    """Layer k of ``case`` as a one-layer case: ``_l{k}`` weights become ``_l0``."""
    c = case.config
    D = c.num_directions
    config = c.replace(num_layers=1, dropout=0.0,
                       input_size=c.input_size if k == 0 else D * c.h_out)
    weights = {name.replace(f"_l{k}", "_l0"): w for name, w in case.weights.items()
               if name.split("_l")[1].split("_")[0] == str(k)}
    hx = None if case.hx is None else (case.hx[0][k * D:(k + 1) * D],
                                       case.hx[1][k * D:(k + 1) * D])
    return case.replace(config=config, weights=weights, hx=hx, training=False)


def _compare_all(actual, expected, case: Case, label: str, tol=None) -> None:
    """Output, h_n and c_n of two results (or of a result and an oracle triple)."""
    __tracebackhide__ = True
    tol = tol or _tol(case)
    for name, a, e, dims in (("output", actual[0], expected[0], OUTPUT_DIMS),
                             ("h_n", actual[1], expected[1], STATE_DIMS),
                             ("c_n", actual[2], expected[2], STATE_DIMS)):
        assert_close(a, e, f"{name} {label}", tol, dims)


def _triple(result) -> tuple:
    return result.output, result.h_n, result.c_n


def oracle(case: Case, **overrides) -> tuple:
    """The float64 oracle's (output, h_n, c_n) for ``case`` (tensors, float64)."""
    as_np = lambda t: t.detach().double().numpy()  # noqa: E731
    x = overrides.get("x", case.x)
    hx = overrides.get("hx", case.hx)
    lengths = case.lengths if case.form == "packed" else None
    out = lstm_forward(case.config, {k: as_np(v) for k, v in case.weights.items()}, as_np(x),
                       None if hx is None else (as_np(hx[0]), as_np(hx[1])), lengths)
    return tuple(torch.from_numpy(a) for a in out)


# -- the notes' four --------------------------------------------------------------------

@invariant(
    "output-shapes", "Shapes, dtype and device",
    "output, h_n and c_n have nn.LSTM's shapes for every input form, the input's dtype and "
    "device; h_n and c_n are never batch-first.",
    "output: (T, N, D*H_o), (N, T, D*H_o) if batch_first, (T, D*H_o) unbatched, packed "
    ".data (sum(len), D*H_o); h_n: (D*num_layers, N, H_o); c_n: (D*num_layers, N, H)",
    catches=("batch_first ignored (pytorch#80306)", "h_n batch-first (pytorch#19675)",
             "torch.compile h_n with an extra dimension (pytorch#130791)"),
)
def output_shapes(subject: Subject, case: Case) -> None:
    if case.form != "unbatched" and case.batch in (case.config.state_rows, case.seq_len):
        # Shapes cannot tell (N, rows) from (rows, N) when they coincide: add a sequence.
        case = case.replace(x=torch.cat([case.x, case.x[:, :1]], dim=1),
                            hx=None if case.hx is None else
                            tuple(torch.cat([s, s[:, :1]], dim=1) for s in case.hx),
                            lengths=None if case.lengths is None else
                            (*case.lengths, case.lengths[0]), enforce_sorted=False)
        if case.batch in (case.config.state_rows, case.seq_len):
            return
    result = subject.run(case)  # the harness checks every shape of the result
    for name, t in (("output", result.raw if case.form != "packed" else result.raw.data),
                    ("h_n", result.h_n), ("c_n", result.c_n)):
        if t.dtype != case.dtype or t.device != case.x.device:
            raise Violation(f"{name}: dtype {t.dtype} on {t.device}, expected {case.dtype} on "
                            f"{case.x.device} (the input's)",
                            {"quantity": name, "actual": str(t.dtype), "expected": str(case.dtype)})


@invariant(
    "last-step-forward", "Last step, forward",
    "The top layer's forward h_n is the output at each sequence's last time step.",
    "h_n[top, b] == o[len_b - 1, b, :H_o]  (len_b = T for dense input)",
    catches=("h_n direction-major", "cat(bwd, fwd) (pytorch#11368)",
             "dropout after the last layer"),
)
def last_step_forward(subject: Subject, case: Case) -> None:
    r = subject.run(case)
    top, Ho = _top(case), case.config.h_out
    lengths = case.lengths if case.form == "packed" else (case.seq_len,) * case.batch
    last = torch.stack([r.output[n - 1, b, :Ho] for b, n in enumerate(lengths)])
    assert_equal(r.h_n[top], last, f"h_n[{top}] (top layer, forward) vs o[len_b-1, b, :{Ho}]",
                 ("batch", "feature"))


@invariant(
    "first-step-backward", "First step, backward",
    "For a bidirectional LSTM, the top layer's backward h_n is the backward half of the "
    "output at time step 0, where the backward direction ends.",
    "h_n[top + 1] == o[0, :, H_o:]",
    requires=("bidirectional",), bidirectional=True,
    catches=("backward input not reversed (apache/tvm#15176)",
             "backward output not re-flipped (onnx/onnx#2881)",
             "h_n from o[T-1] for both directions", "cat(bwd, fwd) (pytorch#11368)"),
)
def first_step_backward(subject: Subject, case: Case) -> None:
    r = subject.run(case)
    top, Ho = _top(case), case.config.h_out
    assert_equal(r.h_n[top + 1], r.output[0, :, Ho:],
                 f"h_n[{top + 1}] (top layer, backward) vs o[0, :, {Ho}:]", ("batch", "feature"))


@invariant(
    "stacked-layers", "Layers stack, layer-major",
    "num_layers=L equals L chained one-layer runs of the same implementation, and row "
    "k*D + d of h_n and c_n is layer k, direction d.",
    "o == run_{L-1}(... run_0(x)), each run_k with weights _l{k} -> _l0 and state rows "
    "[k*D:(k+1)*D]; h_n[k*D:(k+1)*D] == run_k's h_n (same for c_n)",
    requires=("multi_layer",), min_layers=2,
    catches=("h_n direction-major", "every layer starts from layer-0 h0",
             "bidirectional layers >= 2 ignore the backward half (pytorch#89357)"),
)
def stacked_layers(subject: Subject, case: Case) -> None:
    full = subject.run(case)
    D, x = case.config.num_directions, case.x
    for k in range(case.config.num_layers):
        layer_case = _layer(case, k)
        r = subject.run(layer_case, x=x)
        rows = f"[{k * D}:{(k + 1) * D}]"
        assert_close(full.h_n[k * D:(k + 1) * D], r.h_n, f"h_n{rows} vs layer {k} run alone's h_n",
                     _tol(case), STATE_DIMS)
        assert_close(full.c_n[k * D:(k + 1) * D], r.c_n, f"c_n{rows} vs layer {k} run alone's c_n",
                     _tol(case), STATE_DIMS)
        x = r.output
    assert_close(full.output, x, "output vs the chained one-layer runs", _tol(case), OUTPUT_DIMS)


# -- layout and the oracle ---------------------------------------------------------------

@invariant(
    "batch-first", "batch_first is only a layout",
    "batch_first=True on x equals batch_first=False on x.transpose(0, 1): the output is "
    "transposed back, h_n and c_n are identical (never batch-first).",
    "lstm_bf(x.transpose(0, 1))[0].transpose(0, 1) == lstm(x)[0]; h_n, c_n equal",
    requires=("batch_first",), batch_first=True, forms=("batched",),
    catches=("batch_first ignored (pytorch#80306)", "h_n batch-first (pytorch#19675)",
             "hx read as a batch-first buffer", "onnx layout=1 differs (onnx/onnx#5218)"),
)
def batch_first(subject: Subject, case: Case) -> None:
    bf = subject.run(case)
    seq_first = subject.run(case.replace(config=case.config.replace(batch_first=False)))
    _compare_all(_triple(bf), _triple(seq_first), case, "(batch_first) vs the seq-first run",
                 _tol(case))


@invariant(
    "matches-oracle", "Agrees with the float64 oracle",
    "On every input form (dense, batch_first, unbatched, packed with unsorted lengths), "
    "with and without (h0, c0), output, h_n and c_n equal the float64 LSTM equations.",
    "(o, h_n, c_n) == spec.oracle.lstm_forward(config, weights, x, hx, lengths) within "
    "spec.tolerance.forward(dtype)",
    catches=("gate order (NX-AI/xlstm#98, CrispStrobe/CrispASR#106)",
             "single merged bias (google/flax#3746)", "precision loss"),
)
def matches_oracle(subject: Subject, case: Case) -> None:
    _compare_all(_triple(subject.run(case)), oracle(case), case, "vs the float64 oracle")
