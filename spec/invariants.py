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


def implied_requirements(case_kw: dict) -> frozenset[str]:
    """The capabilities that cases drawn with ``case_kw`` cannot do without."""
    forms = set(case_kw.get("forms", ("batched",)))
    implied = {
        "multi_layer": case_kw.get("min_layers", 1) >= 2,
        "bidirectional": case_kw.get("bidirectional") is True,
        "proj_size": case_kw.get("proj") is True,
        "no_bias": case_kw.get("bias") is False,
        "batch_first": case_kw.get("batch_first") is True and forms == {"batched"},
        "packed": forms == {"packed"},
        "unbatched": forms == {"unbatched"},
        "initial_state": case_kw.get("initial_state") is True,
        "dropout": bool(case_kw.get("training")) and case_kw.get("dropout") is True,
    }
    return frozenset(name for name, needed in implied.items() if needed)


def invariant(id: str, title: str, statement: str, expression: str, *,
              requires: tuple[str, ...] = (), draws: Callable | None = None,
              catches: tuple[str, ...] = (), **case_kw):
    """Register the decorated check as an invariant (in definition order).

    ``requires`` names capabilities the check needs beyond those its cases imply
    (``implied_requirements``); ``case_kw`` goes to ``spec.strategies.cases``.
    """

    def register(check):
        INVARIANTS.append(Invariant(
            id=id, title=title, statement=statement, expression=expression, check=check,
            requires=frozenset(requires) | implied_requirements(case_kw), case_kw=case_kw,
            draws=draws, catches=catches,
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
    return tolerance.forward(case.dtype, case.magnitude)


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

def _widened(case: Case) -> Case:
    """``case`` with batch columns added until N differs from both D*num_layers and T:
    shape checks cannot tell (N, rows) from (rows, N), or (N, T) from (T, N), otherwise."""
    while case.batch in (case.config.state_rows, case.seq_len):
        lengths = None if case.lengths is None else (*case.lengths, case.lengths[0])
        hx = None if case.hx is None else tuple(torch.cat([s, s[:, :1]], 1) for s in case.hx)
        case = case.replace(x=torch.cat([case.x, case.x[:, :1]], 1), hx=hx, lengths=lengths,
                            enforce_sorted=False)
    return case


@invariant(
    "output-shapes", "Shapes, dtype and device",
    "output, h_n and c_n have nn.LSTM's shapes for every input form (each case is run "
    "seq-first, batch-first, packed and unbatched), the input's dtype and device; h_n and "
    "c_n are never batch-first.",
    "output: (T, N, D*H_o), (N, T, D*H_o) if batch_first, (T, D*H_o) unbatched, packed "
    ".data (sum(len), D*H_o); h_n: (D*num_layers, N, H_o); c_n: (D*num_layers, N, H)",
    catches=("batch_first ignored (pytorch#80306)", "h_n batch-first (pytorch#19675)",
             "torch.compile h_n with an extra dimension (pytorch#130791)"),
)
def output_shapes(subject: Subject, case: Case) -> None:
    dense = _widened(case.replace(form="batched", lengths=None, enforce_sorted=False))
    T, N = dense.seq_len, dense.batch
    variants = [dense]
    if "batch_first" not in subject.unsupported:
        flipped = dense.config.replace(batch_first=not dense.config.batch_first)
        variants.append(dense.replace(config=flipped))
    if "packed" not in subject.unsupported:
        lengths = tuple(T - b % T for b in range(N))  # includes T, and 1 when N >= T
        variants.append(dense.replace(form="packed", lengths=lengths))
    if "unbatched" not in subject.unsupported:
        variants.append(_column(dense, 0).replace(form="unbatched"))
    for variant in variants:
        label = variant.form + (", batch_first" if variant.form == "batched"
                                and variant.config.batch_first else "")
        try:
            result = subject.run(variant)  # the harness checks every shape of the result
        except Violation as exc:
            raise Violation(f"{label} input: {exc}", {**exc.detail, "input": label}) from exc
        raw = result.raw.data if variant.form == "packed" else result.raw
        for name, t in (("output", raw), ("h_n", result.h_n), ("c_n", result.c_n)):
            if t.dtype != case.dtype or t.device != case.x.device:
                raise Violation(
                    f"{label} input: {name}: dtype {t.dtype} on {t.device}, expected "
                    f"{case.dtype} on {case.x.device} (the input's)",
                    {"quantity": name, "actual": str(t.dtype), "expected": str(case.dtype)})


@invariant(
    "last-step-forward", "Last step, forward",
    "The top layer's forward h_n is the output at each sequence's last time step.",
    "h_n[top, b] == o[len_b - 1, b, :H_o]  (len_b = T for dense input)",
    catches=("h_n direction-major", "cat(bwd, fwd) (pytorch#11368)",
             "packed: h_n taken at the padded end (microsoft/onnxruntime#1400)"),
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
    catches=("backward output not re-flipped (onnx/onnx#2881)",
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
    "spec.tolerance.forward",
    catches=("gate order (NX-AI/xlstm#98, CrispStrobe/CrispASR#106)",
             "single merged bias (google/flax#3746)", "precision loss"),
)
def matches_oracle(subject: Subject, case: Case) -> None:
    _compare_all(_triple(subject.run(case)), oracle(case), case, "vs the float64 oracle")


@invariant(
    "cell-state-consistency", "c_n agrees with h_n",
    "For one layer, h_n is the output gate at the last step times tanh(c_n), projected: c_n "
    "is the cell state that produced h_n.",
    "h_n[d] == [W_hr] (sigmoid(z_o) * tanh(c_n[d])), z_o = W_ih[o] x_t + W_hh[o] h_prev + b[o] "
    "at the direction's last step (t = T-1 forward, t = 0 backward)",
    max_layers=1, forms=("batched", "unbatched"),
    catches=("c_n one step stale / c_n == h_n (salesforce/decaNLP#9)",
             "gate order (CrispStrobe/CrispASR#106)", "bias_hh dropped (google/flax#3746)"),
)
def cell_state_consistency(subject: Subject, case: Case) -> None:
    r = subject.run(case)
    c, H, Ho, T = case.config, case.config.hidden_size, case.config.h_out, case.seq_len
    w = {k: v.double() for k, v in case.weights.items()}
    x = case.x.double()
    for d, suffix in enumerate(c.suffixes()):
        t, prev_t = (T - 1, T - 2) if d == 0 else (0, 1)
        half = slice(d * Ho, (d + 1) * Ho)
        if 0 <= prev_t < T:
            h_prev = r.output[prev_t, :, half].double()
        elif case.hx is not None:
            h_prev = case.hx[0][d].double()
        else:
            h_prev = torch.zeros(case.batch, Ho, dtype=torch.float64)
        rows = slice(3 * H, 4 * H)
        z_o = (x[t] @ w[f"weight_ih_l0{suffix}"][rows].T
               + h_prev @ w[f"weight_hh_l0{suffix}"][rows].T)
        if c.bias:
            z_o = z_o + w[f"bias_ih_l0{suffix}"][rows] + w[f"bias_hh_l0{suffix}"][rows]
        h = torch.sigmoid(z_o) * torch.tanh(r.c_n[d].double())
        if c.proj_size:
            h = h @ w[f"weight_hr_l0{suffix}"].T
        assert_close(r.h_n[d], h, f"h_n[{d}] vs sigmoid(z_o) * tanh(c_n[{d}])",
                     _tol(case), ("batch", "feature"))


def _one_direction(case: Case, suffix: str) -> Case:
    """A unidirectional one-layer case running the ``suffix`` direction's weights."""
    weights = {k.replace(suffix, "") if suffix else k: v for k, v in case.weights.items()
               if k.endswith("_reverse") == (suffix == "_reverse")}
    d = 1 if suffix else 0
    hx = None if case.hx is None else (case.hx[0][d:d + 1], case.hx[1][d:d + 1])
    return case.replace(config=case.config.replace(bidirectional=False), weights=weights, hx=hx)


@invariant(
    "time-reversal", "The backward direction reads time reversed",
    "For a bidirectional layer, the backward half of the output is a forward LSTM with the "
    "_reverse weights run on the time-reversed input, flipped back; the forward half is a "
    "forward LSTM with the forward weights.",
    "o[:, :, H_o:] == flip(uni_rev(flip(x)))[0], h_n[1] == uni_rev's h_n; "
    "o[:, :, :H_o] == uni_fwd(x)[0], h_n[0] == uni_fwd's h_n",
    requires=("bidirectional",), bidirectional=True, max_layers=1, forms=("batched",),
    catches=("backward input not reversed (apache/tvm#15176)",
             "backward output not re-flipped (onnx/onnx#2881, tensorflow#40345)",
             "reverse uses forward weights", "bidirectional backward half wrong "
             "(NVIDIA/TensorRT#1649, Tencent/ncnn#2933, pytorch#94754)"),
)
def time_reversal(subject: Subject, case: Case) -> None:
    r = subject.run(case)
    Ho, tol = case.config.h_out, _tol(case)
    fwd = subject.run(_one_direction(case, ""))
    bwd_case = _one_direction(case, "_reverse")
    bwd = subject.run(bwd_case, x=case.x.flip(0))
    assert_close(r.output[:, :, :Ho], fwd.output, f"o[:, :, :{Ho}] vs forward-only run",
                 tol, OUTPUT_DIMS)
    assert_close(r.output[:, :, Ho:], bwd.output.flip(0),
                 f"o[:, :, {Ho}:] vs flip(reverse-weights run on flip(x))", tol, OUTPUT_DIMS)
    for d, one in ((0, fwd), (1, bwd)):
        assert_close(r.h_n[d], one.h_n[0], f"h_n[{d}] vs its one-direction run", tol,
                     ("batch", "feature"))
        assert_close(r.c_n[d], one.c_n[0], f"c_n[{d}] vs its one-direction run", tol,
                     ("batch", "feature"))


def _column(case: Case, b: int) -> Case:
    """Batch column b of ``case`` as a batch of one."""
    hx = None if case.hx is None else (case.hx[0][:, b:b + 1], case.hx[1][:, b:b + 1])
    lengths = None if case.lengths is None else (case.lengths[b],)
    return case.replace(x=case.x[:, b:b + 1], hx=hx, lengths=lengths, enforce_sorted=False)


@invariant(
    "batch-independence", "Batch elements are independent",
    "Each batch element's output, h_n and c_n equal those of a run on that element alone.",
    "lstm(x[:, b:b+1], (h0[:, b:b+1], c0[:, b:b+1])) == (o[:, b:b+1], h_n[:, b:b+1], "
    "c_n[:, b:b+1]) for every b",
    forms=("batched",),
    catches=("h0 reshape mixes batch and feature", "batch statistics leak across elements",
             "MPS LSTM wrong for batch > 1 (pytorch#90421)"),
)
def batch_independence(subject: Subject, case: Case) -> None:
    r = subject.run(case)
    module = subject.module_for(case)
    for b in range(case.batch):
        alone = subject.call(module, _column(case, b))
        _compare_all(_triple(alone), (r.output[:, b:b + 1], r.h_n[:, b:b + 1], r.c_n[:, b:b + 1]),
                     case, f"of batch element {b} run alone vs in the batch")


@invariant(
    "batch-permutation", "Permuting the batch permutes the results",
    "Running a permuted batch (with its initial state permuted alike) gives the same "
    "results, permuted.",
    "lstm(x[:, p], (h0[:, p], c0[:, p])) == (o[:, p], h_n[:, p], c_n[:, p])",
    forms=("batched", "packed"),
    draws=lambda case: st.permutations(range(case.batch)),
    catches=("packed: hx not permuted by sorted_indices (mlverse/torch#499)",
             "h0 reshape mixes batch and feature"),
)
def batch_permutation(subject: Subject, case: Case, perm) -> None:
    p = torch.tensor(perm, dtype=torch.long)
    r = subject.run(case)
    permuted = case.replace(
        x=case.x[:, p], hx=None if case.hx is None else (case.hx[0][:, p], case.hx[1][:, p]),
        lengths=None if case.lengths is None else tuple(case.lengths[i] for i in perm),
        enforce_sorted=False)
    q = subject.run(permuted)
    _compare_all(_triple(q), (r.output[:, p], r.h_n[:, p], r.c_n[:, p]), case,
                 f"of the batch permuted by {list(perm)}")


@invariant(
    "causality", "Outputs depend only on the past (forward) or the future (backward)",
    "A prefix of the input gives a prefix of the output; for one bidirectional layer, the "
    "forward half is prefix-invariant and the backward half suffix-invariant.",
    "lstm(x[:k])[0][..., :H_o] == o[:k, ..., :H_o]; bidirectional, one layer: "
    "lstm(x[k:])[0][..., H_o:] == o[k:, ..., H_o:]",
    min_seq_len=2, forms=("batched", "unbatched"),
    draws=lambda case: st.integers(1, case.seq_len - 1),
    catches=("backward input not reversed (apache/tvm#15176)",
             "backward output not re-flipped (onnx/onnx#2881)"),
)
def causality(subject: Subject, case: Case, k: int) -> None:
    if case.config.bidirectional and case.config.num_layers > 1:
        case = case.replace(config=case.config.replace(num_layers=1),
                            weights={n: w for n, w in case.weights.items() if "_l0" in n},
                            hx=None if case.hx is None else (case.hx[0][:2], case.hx[1][:2]))
    r = subject.run(case)
    module = subject.module_for(case)
    Ho, tol = case.config.h_out, _tol(case)
    prefix = subject.call(module, case, x=case.x[:k])
    assert_close(prefix.output[..., :Ho], r.output[:k, ..., :Ho],
                 f"output[:{k}, ..., :{Ho}] of x[:{k}] vs of x", tol, OUTPUT_DIMS)
    if case.config.bidirectional:
        suffix = subject.call(module, case, x=case.x[k:])
        assert_close(suffix.output[..., Ho:], r.output[k:, ..., Ho:],
                     f"output[{k}:, ..., {Ho}:] of x[{k}:] vs of x", tol, OUTPUT_DIMS)


@invariant(
    "state-continuation", "Splitting a sequence and carrying (h, c) changes nothing",
    "Running x[:k], then x[k:] from the (h_n, c_n) it returned, gives the output of the "
    "whole sequence and its h_n, c_n (unidirectional, with or without projection).",
    "o1, s1 = lstm(x[:k], hx); o2, s2 = lstm(x[k:], s1): cat(o1, o2) == o, s2 == (h_n, c_n)",
    bidirectional=False, min_seq_len=2, forms=("batched", "unbatched"),
    draws=lambda case: st.integers(1, case.seq_len - 1),
    catches=("projection: the recurrence uses h[:P] instead of W_hr h",
             "c_n one step stale", "every layer starts from layer-0 h0"),
)
def state_continuation(subject: Subject, case: Case, k: int) -> None:
    r = subject.run(case)
    module = subject.module_for(case)
    first = subject.call(module, case, x=case.x[:k])
    second = subject.call(module, case, x=case.x[k:], hx=(first.h_n, first.c_n))
    _compare_all((torch.cat([first.output, second.output]), second.h_n, second.c_n),
                 _triple(r), case, f"of x[:{k}] then x[{k}:] vs of x in one call")


@invariant(
    "hx-none-is-zeros", "No initial state means zeros",
    "Calling without hx is the same as passing zeros for h0 and c0, for every input form.",
    "lstm(x) == lstm(x, (zeros(D*nl, N, H_o), zeros(D*nl, N, H)))",
    requires=("initial_state",), initial_state=False,
    catches=("hx=None is not zeros (ml-explore/mlx#3249)", "state leaking between calls"),
)
def hx_none_is_zeros(subject: Subject, case: Case) -> None:
    c = case.config
    module = subject.module_for(case)
    zeros = (torch.zeros(c.state_rows, case.batch, c.h_out, dtype=case.dtype),
             torch.zeros(c.state_rows, case.batch, c.hidden_size, dtype=case.dtype))
    with_zeros = subject.call(module, case, hx=zeros)
    without = subject.call(module, case, hx=None)
    _compare_all(_triple(without), _triple(with_zeros), case,
                 "with hx=None vs with zero (h0, c0)", tolerance.EXACT)


@invariant(
    "unbatched-is-batch-of-one", "2-D input is a batch of one",
    "Unbatched (L, I) input with 2-D (h0, c0) gives the batch-of-one results without the "
    "batch dimension.",
    "lstm(x[:, 0], (h0[:, 0], c0[:, 0])) == squeeze(lstm(x[:, :1], (h0, c0)), batch dim)",
    requires=("unbatched",), forms=("unbatched",),
    catches=("unbatched input read as L sequences of length 1",),
)
def unbatched_is_batch_of_one(subject: Subject, case: Case) -> None:
    module = subject.module_for(case)
    unbatched = subject.call(module, case, form="unbatched")
    batched = subject.call(module, case, form="batched")
    _compare_all(_triple(unbatched), _triple(batched), case, "(unbatched) vs a batch of one")


@invariant(
    "packed-per-sequence", "Packed sequences are run at their true lengths",
    "With a PackedSequence (lengths unsorted or sorted), each sequence's output equals its "
    "own run at its true length, h_n and c_n come from its true last step (the backward "
    "direction's from t = 0), and hx is read in the caller's batch order.",
    "unpacked o[:len_b, b] == lstm(x[:len_b, b:b+1], hx[:, b:b+1])[0]; h_n[:, b], c_n[:, b] "
    "equal that run's; o[len_b:, b] == 0",
    requires=("packed",), forms=("packed",),
    catches=("h_n taken at the padded end (microsoft/onnxruntime#1400)",
             "backward direction starts in the padding",
             "hx not permuted by sorted_indices (mlverse/torch#499)",
             "MPS packed LSTM wrong for batch > 1 (pytorch#95118)"),
)
def packed_per_sequence(subject: Subject, case: Case) -> None:
    r = subject.run(case)
    module = subject.module_for(case)
    for b, n in enumerate(case.lengths):
        one = _column(case, b)
        alone = subject.call(module, one.replace(x=one.x[:n], form="batched", lengths=None),
                             form="batched")
        _compare_all(_triple(alone), (r.output[:n, b:b + 1], r.h_n[:, b:b + 1],
                                      r.c_n[:, b:b + 1]),
                     case, f"of sequence {b} (length {n}) run alone vs packed")
        assert_equal(r.output[n:, b], torch.zeros_like(r.output[n:, b]),
                     f"unpacked output[{n}:, {b}] (padding) vs zeros", ("t", "feature"))


@invariant(
    "packed-uniform-is-dense", "Packing equal lengths changes nothing",
    "A PackedSequence whose sequences all have length T gives the dense run's results.",
    "unpack(lstm(pack(x, [T]*N))) == lstm(x)",
    requires=("packed",), forms=("batched",),
    catches=("MPS packed LSTM wrong even with equal lengths (pytorch#95118)",),
)
def packed_uniform_is_dense(subject: Subject, case: Case) -> None:
    module = subject.module_for(case)
    dense = subject.call(module, case, form="batched")
    packed = subject.call(module, case.replace(form="packed"), form="packed",
                          lengths=(case.seq_len,) * case.batch)
    _compare_all(_triple(packed), _triple(dense), case, "(packed, equal lengths) vs dense")


@invariant(
    "dropout-eval", "Dropout is off in eval mode",
    "In eval mode, dropout > 0 gives exactly the results of dropout = 0.",
    "lstm(p=0.5).eval()(x) == lstm(p=0).eval()(x)",
    min_layers=2, dropout=True,
    catches=("dropout active in eval (pytorch#180744, pytorch#173640)",),
)
def dropout_eval(subject: Subject, case: Case) -> None:
    with_dropout = subject.run(case)
    without = subject.run(case.replace(config=case.config.replace(dropout=0.0)))
    _compare_all(_triple(with_dropout), _triple(without), case,
                 f"in eval with dropout={case.config.dropout} vs dropout=0", tolerance.EXACT)


@invariant(
    "dropout-train-structure", "Dropout only between layers",
    "In training, dropout acts only on the inputs of layers 1..L-1: the last layer's "
    "output still ends in h_n, layer 0's h_n and c_n are those of eval mode, one layer is "
    "unaffected, and with p = 1 the top layer runs on zeros.",
    "train: h_n[top] == o[T-1, :, :H_o]; h_n[top+1] == o[0, :, H_o:]; h_n[:D], c_n[:D] == "
    "eval's; num_layers = 1: train == eval; p = 1: o == top layer alone on zeros",
    requires=("dropout",), training=True, dropout=True, forms=("batched",),
    catches=("dropout after the last layer (or with one layer)", "dropout on h_n / c_n"),
)
def dropout_train_structure(subject: Subject, case: Case) -> None:
    c = case.config
    D, top, Ho = c.num_directions, _top(case), c.h_out
    r = subject.run(case)
    evald = subject.run(case.replace(training=False))
    if c.num_layers == 1:
        _compare_all(_triple(r), _triple(evald), case,
                     "in training vs eval (one layer: no dropout applies)", tolerance.EXACT)
        return
    assert_equal(r.h_n[top], r.output[-1, :, :Ho],
                 f"h_n[{top}] vs o[T-1, :, :{Ho}] in training", ("batch", "feature"))
    if c.bidirectional:
        assert_equal(r.h_n[top + 1], r.output[0, :, Ho:],
                     f"h_n[{top + 1}] vs o[0, :, {Ho}:] in training", ("batch", "feature"))
    assert_equal(r.h_n[:D], evald.h_n[:D], f"layer 0's h_n[:{D}] in training vs eval", STATE_DIMS)
    assert_equal(r.c_n[:D], evald.c_n[:D], f"layer 0's c_n[:{D}] in training vs eval", STATE_DIMS)
    if c.dropout == 1.0:
        last = _layer(case, c.num_layers - 1)
        zeros = torch.zeros(case.seq_len, case.batch, last.config.input_size, dtype=case.dtype)
        alone = subject.run(last, x=zeros)
        assert_close(r.output, alone.output, "output with p=1 vs the top layer run on zeros",
                     _tol(case), OUTPUT_DIMS)


# -- closed forms and bounds --------------------------------------------------------------

def _closed_form(case: Case, gates: dict[int, tuple[float, float, float, float]]) -> tuple:
    """Output, h_n, c_n when every weight matrix is zero and row r's gate pre-activations
    are the constants ``gates[r] = (z_i, z_f, z_g, z_o)``:
    c_k = sigmoid(z_f) c_{k-1} + sigmoid(z_i) tanh(z_g), h_k = [W_hr] sigmoid(z_o) tanh(c_k),
    after k steps (the backward direction has taken T - t steps when it writes time t)."""
    c, T, Ho = case.config, case.seq_len, case.config.h_out
    D, top = c.num_directions, _top(case)
    c0 = (case.hx[1].double() if case.hx is not None
          else torch.zeros(c.state_rows, case.batch, c.hidden_size, dtype=torch.float64))
    out = torch.zeros(T, case.batch, D * Ho, dtype=torch.float64)
    h_n, c_n = [], []
    for row in range(c.state_rows):
        z_i, z_f, z_g, z_o = (torch.tensor(v, dtype=torch.float64) for v in gates[row])
        d, layer = row % D, row // D
        w_hr = (case.weights[f"weight_hr_l{layer}{c.suffixes()[d]}"].double()
                if c.proj_size else None)
        cell, hs = c0[row], []
        for _ in range(T):
            cell = torch.sigmoid(z_f) * cell + torch.sigmoid(z_i) * torch.tanh(z_g)
            h = torch.sigmoid(z_o) * torch.tanh(cell)
            hs.append(h if w_hr is None else h @ w_hr.T)
        h_n.append(hs[-1])
        c_n.append(cell)
        if row >= top:
            steps = hs if d == 0 else hs[::-1]
            out[:, :, d * Ho:(d + 1) * Ho] = torch.stack(steps)
    return out, torch.stack(h_n), torch.stack(c_n)


@invariant(
    "zero-weights", "Zero weights have a closed form",
    "With every weight and bias zero, each gate is sigmoid(0) = 1/2 and the candidate is 0, "
    "so the cell state halves at every step and h = tanh(c)/2 (zero with a projection).",
    "c_n == 2^-T c0; o[t, :, :H_o] == tanh(2^-(t+1) c0[top]) / 2 (P = 0), "
    "backward o[t, :, H_o:] == tanh(2^-(T-t) c0[top+1]) / 2",
    forms=("batched", "unbatched"),
    catches=("forget-gate bias +1 (apache/tvm#3410)", "tanh as the output gate",
             "h = o * c without tanh"),
)
def zero_weights(subject: Subject, case: Case) -> None:
    weights = {k: torch.zeros_like(v) for k, v in case.weights.items()
               if not k.startswith("weight_hr")}
    weights.update({k: v for k, v in case.weights.items() if k.startswith("weight_hr")})
    case = case.replace(weights=weights)
    expected = _closed_form(case, {r: (0.0, 0.0, 0.0, 0.0) for r in range(case.config.state_rows)})
    _compare_all(_triple(subject.run(case)), expected, case, "vs the zero-weight closed form")


#: Per-gate constant pre-activations (z_i, z_f, z_g, z_o) of the gate probe: distinct, so
#: that any permutation of the gates, or a wrong activation on any one, changes the result.
PROBE_GATES = (0.7, -1.3, 1.9, -0.4)


@invariant(
    "gate-probe", "Gate order and activations, probed",
    "With zero weight matrices and a distinct constant pre-activation per gate (bias split "
    "between b_ih and b_hh; without bias, layer 0 reads feature 0 held at 1), the states "
    "follow the closed form for the gate order i, f, g, o with sigmoid, sigmoid, tanh, sigmoid.",
    "c_k == sigmoid(z_f) c_{k-1} + sigmoid(z_i) tanh(z_g); h_k == [W_hr] sigmoid(z_o) tanh(c_k)",
    forms=("batched", "unbatched"),
    catches=("i and f swapped / f and g swapped (NX-AI/xlstm#98)",
             "ONNX i,o,f,c read as i,f,g,o (CrispStrobe/CrispASR#106)",
             "forget-gate bias +1 (apache/tvm#3410)", "bias_hh dropped (google/flax#3746)",
             "tanh as the output gate"),
)
def gate_probe(subject: Subject, case: Case) -> None:
    c, H = case.config, case.config.hidden_size
    weights = {k: (v if k.startswith("weight_hr") else torch.zeros_like(v))
               for k, v in case.weights.items()}
    gates = {}
    for row in range(c.state_rows):
        layer, suffix = row // c.num_directions, c.suffixes()[row % c.num_directions]
        z = torch.tensor(PROBE_GATES, dtype=torch.float64) * (1 + 0.25 * row)
        column = z.repeat_interleave(H).to(case.dtype)
        if c.bias:
            weights[f"bias_ih_l{layer}{suffix}"] = (0.25 * column).to(case.dtype)
            weights[f"bias_hh_l{layer}{suffix}"] = column - (0.25 * column).to(case.dtype)
            gates[row] = tuple(z.to(case.dtype).double().tolist())
        elif layer == 0:
            weights[f"weight_ih_l0{suffix}"][:, 0] = column
            gates[row] = tuple(z.to(case.dtype).double().tolist())
        else:
            gates[row] = (0.0, 0.0, 0.0, 0.0)  # upper layers without bias see z = 0
    x = case.x.clone()
    if not c.bias:
        x[..., 0] = 1.0
    probe = case.replace(weights=weights, x=x)
    _compare_all(_triple(subject.run(probe)), _closed_form(probe, gates), probe,
                 "vs the gate-probe closed form")


@invariant(
    "bounds", "h and c stay in their bounds",
    "Without projection every |h| <= 1; with projection |h| <= the L1 norm of its W_hr row; "
    "each step adds at most 1 to |c|.",
    "|o|, |h_n| <= 1 (P = 0) or <= sum_j |W_hr[i, j]| (P > 0); |c_n| <= |c0| + T",
    forms=("batched", "unbatched"), input_scales=("saturating", "unit"),
    weight_scales=("large", "normal"),
    catches=("h = o * c without tanh", "every layer starts from layer-0 h0"),
)
def bounds(subject: Subject, case: Case) -> None:
    r = subject.run(case)
    c, Ho = case.config, case.config.h_out
    eps = torch.finfo(case.dtype).eps
    c0 = (case.hx[1].double().abs() if case.hx is not None
          else torch.zeros(c.state_rows, case.batch, c.hidden_size, dtype=torch.float64))
    slack = 1 + 4 * c.hidden_size * eps  # rounding of a sum of hidden_size terms
    checks = [("c_n", r.c_n, (c0 + case.seq_len) * slack, STATE_DIMS)]
    for row in range(c.state_rows):
        layer, d = row // c.num_directions, row % c.num_directions
        bound = torch.ones(Ho, dtype=torch.float64)
        if c.proj_size:
            w_hr = case.weights[f"weight_hr_l{layer}{c.suffixes()[d]}"].double()
            bound = w_hr.abs().sum(1) * slack
        checks.append((f"h_n[{row}]", r.h_n[row], bound.expand_as(r.h_n[row]),
                       ("batch", "feature")))
        if row >= _top(case):
            half = r.output[..., d * Ho:(d + 1) * Ho]
            checks.append((f"output[..., {d * Ho}:{(d + 1) * Ho}]", half, bound.expand_as(half),
                           OUTPUT_DIMS))
    for what, t, bound, dims in checks:
        over = t.detach().double().abs() - bound
        if (over > 0).any():
            index = [int(i) for i in (over == over.max()).nonzero()[0]]
            value = float(t.detach()[tuple(index)])
            raise Violation(
                f"|{what}| exceeds its bound: {value:.6g} at "
                f"{', '.join(f'{n}={i}' for n, i in zip(dims, index, strict=True))}, bound "
                f"{float(bound[tuple(index)]):.6g}",
                {"quantity": what, "index": index, "actual": value,
                 "bound": float(bound[tuple(index)])})


# -- autograd -----------------------------------------------------------------------------

def _loss_weights(result_shapes, seed: int):
    g = torch.Generator().manual_seed(seed + 3)
    return [torch.randn(s, generator=g, dtype=torch.float64) for s in result_shapes]


@invariant(
    "gradients", "Gradients match the float64 reference",
    "Gradients of a random linear function of (output, h_n, c_n) with respect to the input, "
    "h0, c0 and every weight equal those of the float64 LSTM equations.",
    "d/d(x, h0, c0, W) of sum(o*R1) + sum(h_n*R2) + sum(c_n*R3) == the oracle's "
    "(torch.autograd through spec.oracle in float64), within spec.tolerance.gradient; "
    "weights are read from named_parameters() under nn.LSTM's names, so a module that names "
    "them otherwise has its input and state gradients checked only",
    requires=("autograd",), initial_state=True, max_seq_len=6,
    catches=("truncated backpropagation (detached state between steps)",),
)
def gradients(subject: Subject, case: Case) -> None:
    module = subject.module_for(case)
    params = dict(module.named_parameters()) if hasattr(module, "named_parameters") else {}
    named = [n for n in case.weights if n in params]
    if named and len(named) < len(case.weights):
        missing = sorted(set(case.weights) - set(named))
        raise Violation(f"named_parameters() has some of nn.LSTM's names but lacks {missing}",
                        {"quantity": "parameters", "missing": missing})
    x = case.x.clone().requires_grad_(True)
    hx = tuple(s.clone().requires_grad_(True) for s in case.hx)
    r = subject.call(module, case, x=x, hx=hx)
    R = _loss_weights([r.output.shape, r.h_n.shape, r.c_n.shape], case.weight_seed)
    loss = sum((t.double() * w).sum() for t, w in zip(_triple(r), R, strict=True))
    wanted = [x, *hx, *(params[n] for n in named)]
    got = torch.autograd.grad(loss, wanted, allow_unused=True)

    ref_w = {n: w.detach().double().requires_grad_(True) for n, w in case.weights.items()}
    ref_x = case.x.detach().double().requires_grad_(True)
    ref_hx = tuple(s.detach().double().requires_grad_(True) for s in case.hx)
    lengths = case.lengths if case.form == "packed" else None
    ref = lstm_forward(case.config, ref_w, ref_x, ref_hx, lengths)
    ref_loss = sum((t * w).sum() for t, w in zip(ref, R, strict=True))
    expected = torch.autograd.grad(ref_loss, [ref_x, *ref_hx, *(ref_w[n] for n in named)],
                                   allow_unused=True)
    names = ["input", "h0", "c0", *named]
    tol = tolerance.gradient(case.dtype, case.magnitude)
    for name, g, e, t in zip(names, got, expected, wanted, strict=True):
        g = torch.zeros_like(t) if g is None else g
        e = torch.zeros_like(t, dtype=torch.float64) if e is None else e
        assert_close(g, e, f"d loss / d {name} vs the float64 reference", tol)


# -- hygiene ------------------------------------------------------------------------------

@invariant(
    "no-mutation", "The caller's tensors are left alone",
    "Building, loading and calling the implementation changes neither the input, nor "
    "(h0, c0), nor the state_dict tensors it was given.",
    "x, h0, c0 and every tensor passed to load_state_dict are bitwise unchanged afterwards",
    catches=("in-place edits of the caller's input or state",),
)
def no_mutation(subject: Subject, case: Case) -> None:
    weights = {k: v.clone() for k, v in case.weights.items()}
    x = case.x.clone()
    hx = None if case.hx is None else tuple(s.clone() for s in case.hx)
    mine = case.replace(weights=weights, x=x, hx=hx)
    module = subject.module_for(mine)
    subject.call(module, mine)
    subject.call(module, mine)
    assert_equal(x, case.x, "the input after the calls vs before", OUTPUT_DIMS)
    if hx is not None:
        assert_equal(hx[0], case.hx[0], "h0 after the calls vs before", STATE_DIMS)
        assert_equal(hx[1], case.hx[1], "c0 after the calls vs before", STATE_DIMS)
    for name, w in weights.items():
        assert_equal(w, case.weights[name], f"{name} given to load_state_dict, after vs before")


@invariant(
    "determinism", "Same call, same answer",
    "In eval mode, two identical calls of one module, and one call of a second module "
    "built the same way, give bitwise equal results.",
    "lstm(x, hx) == lstm(x, hx) == lstm'(x, hx), bitwise",
    catches=("state leaking between calls", "non-deterministic kernels"),
)
def determinism(subject: Subject, case: Case) -> None:
    module = subject.module_for(case)
    first = subject.call(module, case)
    again = subject.call(module, case)
    fresh = subject.call(subject.module_for(case), case)
    for label, other in (("second call", again), ("a second module's call", fresh)):
        _compare_all(_triple(other), _triple(first), case, f"of the {label} vs the first call",
                     tolerance.EXACT)


#: Malformed calls: (what, how to make it from a good batched call, exception type, the
#: start of nn.LSTM's message when its Python front end raises it, else None).
BAD_INPUTS = {
    "1-D input": (lambda x, hx: (x[:, 0, 0], None), ValueError,
                  "LSTM: Expected input to be 2D or 3D, got 1D instead"),
    "4-D input": (lambda x, hx: (x.unsqueeze(0), None), ValueError,
                  "LSTM: Expected input to be 2D or 3D, got 4D instead"),
    "wrong feature size": (lambda x, hx: (torch.cat([x, x[..., :1]], -1), hx), RuntimeError,
                           "input.size(-1) must be equal to input_size"),
    "h0 with the wrong batch size": (
        lambda x, hx: (x, (torch.cat([hx[0], hx[0][:, :1]], 1), hx[1])), RuntimeError,
        "Expected hidden[0] size"),
    "c0 with the wrong hidden size": (
        lambda x, hx: (x, (hx[0], torch.cat([hx[1], hx[1][..., :1]], -1))), RuntimeError,
        "Expected hidden[1] size"),
    "2-D (h0, c0) for 3-D input": (lambda x, hx: (x, (hx[0][:, 0], hx[1][:, 0])), RuntimeError,
                                   "For batched 3-D input, hx and cx should also be 3-D"),
    "seq_len 0": (lambda x, hx: (x[:0], hx), RuntimeError, None),
}


@invariant(
    "bad-input-raises", "Malformed input raises nn.LSTM's errors",
    "1-D or 4-D input, a wrong feature size, (h0, c0) of the wrong shape or dimensionality, "
    "and seq_len 0 raise nn.LSTM's exception type (and its message, where its Python front "
    "end words it).",
    "lstm(bad) raises ValueError (input dims) or RuntimeError (sizes, seq_len 0)",
    requires=("input_validation",), forms=("batched",), initial_state=True, batch_first=False,
    draws=lambda case: st.sampled_from(sorted(BAD_INPUTS)),
    catches=("wrong input_size accepted (pytorch#114874)",
             "bad hx accepted for packed input (pytorch#195803)"),
)
def bad_input_raises(subject: Subject, case: Case, kind: str) -> None:
    make, expected, message = BAD_INPUTS[kind]
    module = subject.module_for(case)
    x, hx = make(case.x, case.hx)
    try:
        module(x) if hx is None else module(x, hx)
    except NotImplementedError:
        raise
    except Exception as exc:
        if not isinstance(exc, expected):
            raise Violation(f"{kind}: raised {type(exc).__name__}: {exc}; nn.LSTM raises "
                            f"{expected.__name__}", {"quantity": kind,
                                                     "actual": type(exc).__name__,
                                                     "expected": expected.__name__}) from exc
        if message and message not in str(exc):
            raise Violation(f"{kind}: {type(exc).__name__} says {str(exc)!r}; nn.LSTM's says "
                            f"{message!r}...", {"quantity": kind, "actual": str(exc),
                                                "expected": message}) from exc
        return
    raise Violation(f"{kind}: accepted without an error; nn.LSTM raises {expected.__name__}",
                    {"quantity": kind, "expected": expected.__name__})
