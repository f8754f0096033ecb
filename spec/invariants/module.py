"""Chapter 11: the module contract.

A drop-in ``nn.LSTM`` is also a PyTorch module, and users rely on more than its equations:
it is handed views rather than fresh tensors, called under ``no_grad`` and
``inference_mode`` and with frozen weights, trained through long sequences, switched to
training where dropout must act as a distribution, saved, loaded strictly, copied,
reparametrized and pruned, called on an empty batch, and its results are kept by the
caller while it is called again. Each of these has shipped broken in real projects while
the equations held.

Where nn.LSTM's own behaviour is the reference, it was measured on CPU with torch 2.13:
it accepts expanded (stride-0), transposed and sliced inputs and states with bitwise the
results of their contiguous copies; its results under ``no_grad`` differ from those with
grad by up to one float32 ulp (so those are compared within the rounding of two runs);
it returns shapes ``(T, 0, D*H_out)`` for an empty batch; it follows a reassigned
``nn.Parameter``, ``torch.nn.utils.parametrize`` and ``torch.nn.utils.prune`` on its
weights; ``load_state_dict`` raises ``RuntimeError`` for a missing key, an unexpected key
or a wrong shape, and with ``strict=False`` reports the keys (a wrong shape still raises).

Where a behaviour may legitimately differ, the rule is: the same answer as for the plain
case, or a clear error, never a silent wrong answer. An implementation that refuses
non-contiguous tensors (as cuDNN does for hx) passes ``strided-views`` if its error says
so ("contiguous" in the message); one that cannot honour a part of the contract can
declare the capability unsupported (``strided``, ``no_grad``, ``frozen_weights``,
``seeded_dropout``).
"""

from __future__ import annotations

import copy
import io
import math

import torch
from torch import nn
from torch.nn.utils import parametrize, prune

from lstm_conformance.spec import tolerance
from lstm_conformance.spec.asserts import assert_close, assert_equal
from lstm_conformance.spec.case import Case
from lstm_conformance.spec.errors import (
    ImplementationError,
    NotApplicable,
    Violation,
    qualified_name,
)
from lstm_conformance.spec.harness import OUTPUT_DIMS, STATE_DIMS, Subject
from lstm_conformance.spec.invariants.common import accuracy, compare_all, oracle
from lstm_conformance.spec.invariants.registry import invariant
from lstm_conformance.spec.invariants.scale import at_largest_sizes
from lstm_conformance.spec.invariants.side_effects import compare_gradients, loss_weights
from lstm_conformance.spec.strategies import make_input, make_state, make_weights
from lstm_conformance.spec.vocabulary import Form, Frozen, GradMode, Layout

#: The call dimensions left at their usual values by checks that set their own.
PLAIN_CALL = dict(layouts=("dense",), grad_modes=("grad",), frozen=("none",))


def _results_of(subject: Subject, module, case: Case, *, check: str, what: str):
    """Call, turning an implementation's exception into a violation (``check``): in this
    chapter a call that nn.LSTM answers must be answered. ``what`` says what nn.LSTM does.
    The violation keeps the error (``raised``: its kind and message), so that the same
    error met in other checks reads as the same root cause."""
    try:
        return subject.call(module, case)
    except ImplementationError as exc:
        raise Violation(f"{exc}; {what}", {"check": check, "exception": exc.exception,
                                           "raised": {"kind": exc.key, "message": str(exc)}}) \
            from exc


# -- memory layout ---------------------------------------------------------------------


@invariant(
    id="strided-views", title="A view reads as its copy",
    statement="Input and (h0, c0) passed as non-contiguous views (a transposed batch, the "
    "first features of a wider tensor, every other time step, an initial state expanded "
    "over the batch with stride 0) give the results of their contiguous copies, or an "
    "error saying the implementation needs contiguous tensors; never a silent wrong answer.",
    expression="lstm(view) == lstm(view.contiguous()) within spec.tolerance.forward, or an "
    "exception whose message says 'contiguous'; memory a view skips holds NaN",
    cases=dict(layouts=("transposed", "feature-slice", "time-stride", "expanded-state"),
               forms=(Form.BATCHED, Form.UNBATCHED)),
    catches=("a kernel reading a raw pointer with dense strides (pytorch#345)",
             "an expanded learned initial state read as dense (unit8co/darts#730)"),
)
def strided_views(subject: Subject, case: Case) -> None:
    module = subject.module_for(case)
    dense = case.replace(layout=Layout.DENSE,
                         hx=None if case.hx is None else tuple(s.contiguous() for s in case.hx))
    try:
        viewed = subject.call(module, case)
    except ImplementationError as exc:
        if "contiguous" in str(exc).lower():
            raise NotApplicable(f"refuses non-contiguous tensors, and says so: {exc}") from exc
        raise
    except Violation as exc:
        if exc.detail.get("check") != "finite":
            raise
        subject.call(module, dense)  # finite too? then the views are to blame
        raise Violation(f"with {case.layout} views: {exc}; their contiguous copies give "
                        "finite results: the implementation reads memory the views skip "
                        "(which holds NaN)", {**exc.detail, "check": "strided-view"}) from exc
    copied = subject.call(module, dense)
    compare_all(viewed.triple, copied.triple, case,
                f"with {case.layout} views vs their contiguous copies", check="strided-view")


# -- autograd modes --------------------------------------------------------------------


@invariant(
    id="grad-modes", title="Every autograd mode, the same answer",
    statement="Calls under torch.no_grad() and torch.inference_mode(), and with every weight "
    "frozen, give the results of a call with grad; with frozen weights the input still gets "
    "its gradient, the unfrozen module's; and a module first called under inference_mode "
    "can then be trained (a call with grad and backward(), both without hx).",
    expression="lstm(x) under no_grad, inference_mode, requires_grad_(False) == lstm(x) "
    "within spec.tolerance.forward (nn.LSTM itself differs by one float32 ulp between grad "
    "and no_grad, measured); frozen: d loss/dx == the trainable module's within "
    "spec.tolerance.gradient; inference_mode call then backward(): no exception",
    requires=("autograd", "no_grad", "frozen_weights"),
    cases=dict(initial_state=True, **PLAIN_CALL),
    catches=("an inference-only path with approximate activations",
             "the input's gradient lost when the weights are frozen (pytorch#7722)",
             "a tensor cached under inference_mode breaks the next training call "
             "(open-mmlab/mmsegmentation#3499)"),
)
def grad_modes(subject: Subject, case: Case) -> None:
    # Each mode on a fresh module and fresh tensors: what lives across calls is the
    # lifecycle's business, and would otherwise read here as a difference of modes.
    def fresh_call(mode: GradMode, frozen: Frozen = Frozen.NONE):
        mine = case.replace(grad_mode=mode, frozen=frozen, x=case.x.clone(),
                            hx=tuple(s.clone() for s in case.hx))
        return subject.call(subject.module_for(mine), mine)

    with_grad = fresh_call(GradMode.GRAD)
    for mode in (GradMode.NO_GRAD, GradMode.INFERENCE):
        compare_all(fresh_call(mode).triple, with_grad.triple, case,
                    f"under {mode} vs with grad", check="grad-mode")
    compare_all(fresh_call(GradMode.GRAD, Frozen.ALL).triple, with_grad.triple, case,
                "with every weight frozen vs trainable", check="grad-mode")
    module = subject.module_for(case)
    frozen = subject.module_for(case.replace(frozen=Frozen.ALL))

    R = None
    grads = []
    for which in (module, frozen):
        x = case.x.clone().requires_grad_(True)
        r = subject.call(which, case, x=x)
        R = R or loss_weights([r.output.shape, r.h_n.shape, r.c_n.shape], case.weight_seed)
        loss = sum((t.double() * w).sum() for t, w in zip(r.triple, R, strict=True))
        if not loss.requires_grad:
            raise Violation("with every weight frozen, the results carry no gradient although "
                            "the input requires grad: the module cut autograd off",
                            {"check": "frozen-input-gradient", "quantity": "input"})
        grads.append(torch.autograd.grad(loss, x)[0])
    assert_close(grads[1], grads[0], "d loss / d input with frozen weights vs trainable",
                 tolerance.gradient(case.dtype, case.magnitude, case.seq_len), OUTPUT_DIMS,
                 check="frozen-input-gradient", name="input")

    fresh = subject.module_for(case)  # called as a model is: on input alone, hx=None
    subject.call(fresh, case.replace(grad_mode=GradMode.INFERENCE), hx=None)
    x = case.x.clone().requires_grad_(True)
    try:
        r = subject.call(fresh, case, x=x, hx=None)
        sum((t.double() * w).sum() for t, w in zip(r.triple, R, strict=True)).backward()
    except (ImplementationError, RuntimeError) as exc:
        said = str(exc) if isinstance(exc, ImplementationError) \
            else f"backward() raised {qualified_name(type(exc))}: {exc}"
        raise Violation(f"after a call under inference_mode, a call with grad and backward(): "
                        f"{said}", {"check": "inference-then-train"}) from exc


# -- gradients at scale ----------------------------------------------------------------


@invariant(
    id="gradients-at-scale", title="Gradients past block sizes",
    statement="With one of hidden_size, input_size, the sequence length (up to 257 steps) or "
    "the batch just past a block boundary, gradients with respect to the input, h0, c0 and "
    "every weight equal those of the float64 LSTM equations.",
    expression="as gradients, for sizes in spec.strategies.BOUNDARY_SIZES, within "
    "spec.tolerance.gradient (grown with the sequence length)",
    requires=("autograd",),
    # One layer, batched or packed: stacking and unbatched input are the business of
    # gradients; here the long backward kernels are, and the oracle's float64 autograd
    # through 257 steps is the costliest check of a run.
    cases=dict(large=True, max_layers=1, forms=(Form.BATCHED, Form.PACKED),
               dtypes=("float32", "float64"), weight_scales=("normal",), initial_state=True,
               grad_modes=("grad",), frozen=("none",)),
    catches=("a backward kernel that drops the contribution of steps past its time window "
             "(apache/mxnet#18203 for a backward-only class)",
             "a partial last tile dropped in the backward kernel only"),
    decisive=at_largest_sizes,
)
def gradients_at_scale(subject: Subject, case: Case) -> None:
    compare_gradients(subject, case, check="gradient-at-scale", forward_check="oracle-at-scale")


# -- dropout as a distribution ---------------------------------------------------------

#: The readout: layer 1's candidate gate reads its input scaled by READ, its input and
#: output gates are held open (bias +BIG: sigmoid is 1.0 in float32 and float64), its
#: forget gate shut and W_hh zero, so h1_t = tanh(tanh(READ * x1_t)) for each feature:
#: layer 1's output gives back, element by element, what dropout let through to it.
READ, BIG = 0.25, 40.0
#: The readout's shape: T steps, N sequences, H features: T*N*H mask elements per call.
DROPOUT_T, DROPOUT_N, DROPOUT_H = 2, 32, 16
#: Training calls per example (each draws its own masks).
DROPOUT_CALLS = 3
#: The false-alarm probability of the kept-fraction test, per example (Hoeffding's bound).
DROPOUT_ALPHA = 1e-9
#: Elements whose undropped value is smaller than this are not classified (their ratio is
#: too uncertain in float32).
DROPOUT_FLOOR = 0.05
#: A ratio within this relative distance of 0 or of 1/(1-p) is dropped or kept.
DROPOUT_BAND = 1e-3
#: For an implementation that declares its own tolerance, an element whose ratio the
#: declared figures leave uncertain by this much or more (relative) is not classified: at
#: 1/2 a kept element could read as dropped.
DROPOUT_UNREADABLE = 0.5


def _readout_case(case: Case) -> Case:
    """The two-layer readout module's case: layer 0 as drawn (weights x3 so that its
    outputs are of order one), layer 1 the readout (see ``READ``)."""
    H, T, N = DROPOUT_H, DROPOUT_T, DROPOUT_N
    config = case.config.replace(hidden_size=H, num_layers=2, bidirectional=False,
                                 proj_size=0, bias=True, batch_first=False)
    weights = make_weights(config, case.weight_seed, 3.0, case.dtype)
    zeros = {k: torch.zeros_like(v) for k, v in weights.items() if k.endswith("_l1")}
    weights.update(zeros)
    gate = torch.zeros(4 * H, H, dtype=torch.float64)
    gate[2 * H:3 * H] = READ * torch.eye(H, dtype=torch.float64)
    bias = torch.zeros(4 * H, dtype=torch.float64)
    bias[:H], bias[H:2 * H], bias[3 * H:] = BIG, -BIG, BIG
    weights["weight_ih_l1"] = gate.to(case.dtype)
    weights["bias_ih_l1"] = bias.to(case.dtype)
    x = make_input(config, T, N, case.weight_seed, 1.0, case.dtype)
    return case.replace(config=config, weights=weights, x=x, hx=None, lengths=None,
                        layout=Layout.DENSE, frozen=Frozen.NONE)


def _what_reached_layer_1(output: torch.Tensor) -> torch.Tensor:
    """Invert the readout: layer 1's input, from its output."""
    h = output.detach().double().clamp(-1 + 1e-15, 1 - 1e-15)
    return torch.atanh(torch.atanh(h)) / READ


def _dropout_scale(p: float) -> float:
    """What a kept element is multiplied by: 1/(1-p); at p = 1 nothing is kept."""
    return math.inf if p >= 1.0 else 1.0 / (1.0 - p)


def _readout_bands(undropped: torch.Tensor, scale: float, within: tolerance.Tolerance):
    """Per element, the relative uncertainty of the ratio that an output error of
    ``within`` (a declared tolerance) allows: an error dh of the readout's output is an
    error dh / (READ (1 - h^2) (1 - c^2)) of what reached layer 1 (c = tanh(READ x),
    h = tanh(c)), taken at the undropped value and at the kept one (x / (1-p)), each
    relative to the undropped value (first order)."""
    def error_at(x: torch.Tensor) -> torch.Tensor:
        c = torch.tanh(READ * x)
        h = torch.tanh(c)
        slope = READ * (1 - h**2) * (1 - c**2)
        return (within.atol + within.rtol * h.abs()) / slope.clamp_min(1e-300)

    kept = undropped * (scale if math.isfinite(scale) else 1.0)
    return (error_at(undropped) + error_at(kept)) / undropped.abs().clamp_min(1e-300)


@invariant(
    id="dropout-distribution", title="Dropout is a fresh Bernoulli mask, rescaled",
    statement="In training, each element between layers is kept with probability 1 - p "
    "(tested at false-alarm probability 1e-9 per example) and then scaled by exactly "
    "1/(1-p), with fresh masks on every call; where the implementation draws from torch's "
    "generator, the same seed gives the same masks. Read through a second layer made into "
    "an exact readout of its input.",
    expression="r = layer-1 input in training / in eval, elementwise: r in {0, 1/(1-p)} "
    "(within 1e-3); |mean(r != 0) - (1-p)| <= sqrt(ln(2/1e-9) / 2n) over n elements of "
    "3 calls; mask of call k != mask of call k+1; torch.manual_seed(s) before two calls "
    "gives equal masks",
    cases=dict(training=True, dropout=True, min_layers=2, max_layers=2,
               forms=(Form.BATCHED,), dtypes=("float32", "float64"), proj=False,
               bidirectional=False, layouts=("dense",), frozen=("none",)),
    catches=("dropout not rescaled by 1/(1-p) (kaldi-asr/kaldi#2815)",
             "the same dropout masks at every call (PaddlePaddle/Paddle#7796)",
             "p used as the keep probability"),
)
def dropout_distribution(subject: Subject, case: Case) -> None:
    p = case.config.dropout
    readout = _readout_case(case)
    module = subject.module_for(readout)
    module.eval()
    evaluated = subject.call(module, readout)
    try:  # the readout reads dropout only through a right LSTM: other checks show the rest
        compare_all(evaluated.triple, oracle(readout), readout, "in eval vs the oracle",
                    check="dropout-readout", within=accuracy(readout))
    except Violation as exc:
        raise NotApplicable("the readout module's eval results differ from the oracle's, so "
                            "dropout cannot be read through it") from exc
    undropped = _what_reached_layer_1(evaluated.output)
    module.train()
    usable = undropped.abs() > DROPOUT_FLOOR
    band: torch.Tensor | float = DROPOUT_BAND
    if tolerance.is_declared(readout.dtype):  # judged by its own figures: read within them
        declared = accuracy(readout)
        band = _readout_bands(undropped, _dropout_scale(p), declared).clamp_min(DROPOUT_BAND)
        usable &= band < DROPOUT_UNREADABLE
        if int(usable.sum()) < DROPOUT_T * DROPOUT_N * DROPOUT_H // 4:
            raise NotApplicable(f"the declared tolerance ({declared}) leaves too few "
                                "elements whose dropout can be read through the readout")
    masks = []
    for _ in range(DROPOUT_CALLS):
        ratio = _what_reached_layer_1(subject.call(module, readout).output) / undropped
        if ((ratio - 1).abs() <= band)[usable].all():
            raise Violation(f"dropout p={p}: after eval() then train(), a training call dropped "
                            "nothing and scaled nothing: it computed as in eval mode",
                            {"check": "dropout-inactive", "quantity": "mask"})
        masks.append(_mask(ratio, usable, p, band))
    n = int(usable.sum()) * len(masks)
    if p < 1.0:
        kept = sum(int(m[usable].sum()) for m in masks) / n
        allowed = math.sqrt(math.log(2 / DROPOUT_ALPHA) / (2 * n))
        if abs(kept - (1 - p)) > allowed:
            raise Violation(f"dropout p={p} kept {kept:.3f} of {n} elements; a Bernoulli(1-p) "
                            f"mask keeps {1 - p:.3f} +- {allowed:.3f} (false-alarm "
                            f"probability {DROPOUT_ALPHA:g})",
                            {"check": "dropout-kept-fraction", "quantity": "kept fraction",
                             "observed": kept, "expected": 1 - p, "allowed": allowed})
    if 0.0 < p < 1.0:
        for k in range(len(masks) - 1):
            if torch.equal(masks[k][usable], masks[k + 1][usable]):
                raise Violation(f"dropout p={p}: training calls {k + 1} and {k + 2} dropped "
                                f"exactly the same {n // len(masks)} elements; masks must be "
                                "drawn afresh on every call",
                                {"check": "dropout-fresh-masks", "quantity": "mask"})
        if "seeded_dropout" not in subject.unsupported:
            seeded = []
            with torch.random.fork_rng():
                for _ in range(2):
                    torch.manual_seed(case.weight_seed)
                    out = subject.call(module, readout).output
                    seeded.append(_mask(_what_reached_layer_1(out) / undropped, usable, p,
                                        band))
            if not torch.equal(seeded[0][usable], seeded[1][usable]):
                raise Violation(f"dropout p={p}: after torch.manual_seed({case.weight_seed}) "
                                "two calls dropped different elements; declare "
                                "'seeded_dropout' unsupported if the masks come from "
                                "another generator",
                                {"check": "dropout-seeded", "quantity": "mask"})


def _mask(ratio: torch.Tensor, usable: torch.Tensor, p: float,
          band: torch.Tensor | float = DROPOUT_BAND) -> torch.Tensor:
    """Which elements were kept (True) or dropped, from the ratio of what reached layer 1
    in training to what did in eval; a ratio that is neither 0 nor 1/(1-p) (within
    ``band``, relative, per element or for all) is a violation of the scale."""
    scale = _dropout_scale(p)
    dropped = ratio.abs() <= band * (1.0 if p >= 1.0 else scale)
    kept = (ratio - scale).abs() <= band * scale if p < 1.0 else torch.zeros_like(dropped)
    wrong = usable & ~dropped & ~kept
    if wrong.any():
        seen = ratio[wrong]
        raise Violation(
            f"dropout p={p}: {int(wrong.sum())} of {int(usable.sum())} elements reached the "
            f"next layer scaled by {float(seen.median()):.6g} (from {float(seen.min()):.4g} to "
            f"{float(seen.max()):.4g}); dropout keeps an element scaled by exactly 1/(1-p) = "
            f"{scale:.6g} or drops it",
            {"check": "dropout-scale", "quantity": "kept values' scale",
             "observed": float(seen.median()), "expected": scale})
    return kept


# -- the state_dict contract -----------------------------------------------------------


@invariant(
    id="state-dict", title="Saved, loaded and copied as nn.Module is",
    statement="state_dict() has nn.LSTM's keys, shapes, dtypes and the loaded values; "
    "load_state_dict refuses a missing key, an unexpected key and a wrongly shaped tensor "
    "with RuntimeError, and with strict=False reports the missing and unexpected keys as "
    "nn.LSTM does; a fresh module loaded from state_dict(), copy.deepcopy and a "
    "torch.save / torch.load round trip give bitwise the same results.",
    expression="state_dict() ~ nn.LSTM(...).state_dict() (keys, shapes, dtypes), == the "
    "loaded weights; load_state_dict(bad) raises RuntimeError; load_state_dict(bad, "
    "strict=False) -> (missing_keys, unexpected_keys) == nn.LSTM's; lstm'(x) == lstm(x)",
    cases=dict(forms=(Form.BATCHED,), max_seq_len=4, **PLAIN_CALL),
    catches=("a lenient loader that serves a half-loaded checkpoint (pytorch/executorch#2191)",
             "extra or renamed keys in state_dict()"),
)
def state_dict(subject: Subject, case: Case) -> None:
    module = subject.module_for(case)
    if not all(hasattr(module, a) for a in ("state_dict", "load_state_dict")):
        raise NotApplicable("the module has no state_dict()")
    reference = nn.LSTM(**case.config.kwargs(), dtype=case.dtype).state_dict()
    saved = _guarded("state_dict()", module.state_dict)
    missing, extra = sorted(set(reference) - set(saved)), sorted(set(saved) - set(reference))
    if missing or extra:
        raise Violation(f"state_dict() keys differ from nn.LSTM's: missing {missing}, "
                        f"unexpected {extra}",
                        {"check": "state-dict-keys", "missing": missing, "unexpected": extra})
    for name, want in reference.items():
        got = saved[name]
        if tuple(got.shape) != tuple(want.shape) or got.dtype != want.dtype:
            raise Violation(f"state_dict()[{name!r}] is {tuple(got.shape)} {got.dtype}; "
                            f"nn.LSTM's is {tuple(want.shape)} {want.dtype}",
                            {"check": "state-dict-keys", "quantity": name})
        assert_equal(got, case.weights[name], f"state_dict()[{name!r}] vs the loaded weights",
                     check="state-dict-values")

    key = "bias_hh_l0" if case.config.bias else "weight_hh_l0"
    unknown = f"weight_ih_l{case.config.num_layers}"
    narrow = dict(case.weights)
    narrow["weight_hh_l0"] = narrow["weight_hh_l0"][1:]
    bad = {"missing": ({k: v for k, v in case.weights.items() if k != key}, [key], [], key),
           "unexpected": ({**case.weights, unknown: case.weights["weight_ih_l0"]}, [],
                          [unknown], unknown),
           "wrongly shaped": (narrow, None, None, "weight_hh_l0")}
    for what, (weights, missing_keys, unexpected_keys, named) in bad.items():
        fresh = subject.module_for(case)
        try:
            fresh.load_state_dict(dict(weights))
        except RuntimeError:
            pass
        except Exception as exc:
            raise Violation(f"load_state_dict with a {what} key raised "
                            f"{qualified_name(type(exc))}: {exc}; nn.LSTM raises RuntimeError",
                            {"check": "strict-loading", "input": what,
                             "exception": qualified_name(type(exc))}) from exc
        else:
            raise Violation(f"load_state_dict accepted a state_dict with a {what} key "
                            f"({named}); nn.LSTM refuses it (strict=True, the default)",
                            {"check": "strict-loading", "input": what})
        if missing_keys is None:
            continue
        try:
            report = fresh.load_state_dict(dict(weights), strict=False)
        except Exception as exc:
            raise Violation(f"load_state_dict(strict=False) with a {what} key raised "
                            f"{qualified_name(type(exc))}: {exc}; nn.LSTM reports the key",
                            {"check": "non-strict-report", "input": what}) from exc
        got = (sorted(getattr(report, "missing_keys", ["<no report>"])),
               sorted(getattr(report, "unexpected_keys", ["<no report>"])))
        if got != (missing_keys, unexpected_keys):
            raise Violation(f"load_state_dict(strict=False) with a {what} key reported missing "
                            f"{got[0]}, unexpected {got[1]}; nn.LSTM reports {missing_keys}, "
                            f"{unexpected_keys}",
                            {"check": "non-strict-report", "input": what})

    # Each copy's first call against a fresh module's first call, each on its own copy of
    # the input: what lives across calls (or in the caller's tensors) is other checks' to see.
    original = subject.module_for(case)
    copies = {"a fresh module loaded from state_dict()":
              subject.module_for(case.replace(weights={k: v.detach().clone()
                                                       for k, v in saved.items()}))}
    copies["copy.deepcopy"] = _guarded("copy.deepcopy", copy.deepcopy, original)
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    buffer.seek(0)
    copies["torch.save / torch.load"] = subject.module_for(
        case.replace(weights=torch.load(buffer)))

    def once(module):
        mine = case.replace(x=case.x.clone(), hx=None if case.hx is None
                            else tuple(s.clone() for s in case.hx))
        return subject.call(module, mine).triple

    first = once(original)
    for what, other in copies.items():
        compare_all(once(other), first, case, f"of {what} vs the original",
                    check="state-dict-round-trip", within=tolerance.EXACT)


def _guarded(what: str, fn, *args):
    try:
        return fn(*args)
    except Exception as exc:
        raise ImplementationError(f"{what} raised {qualified_name(type(exc))}: {exc}",
                                  kind="raised", exception=qualified_name(type(exc))) from exc


# -- parameters that change identity ---------------------------------------------------


def lstm_parameters(subject: Subject) -> str | None:
    """Why a check of parameters by nn.LSTM's names does not apply to ``subject`` (its
    named_parameters() use other names), or None; asked of a tiny module once."""
    from lstm_conformance.spec.config import LSTMConfig

    config = LSTMConfig(input_size=1, hidden_size=1)
    try:
        module = subject.build(config, make_weights(config, 0, 1.0, torch.float32),
                               torch.float32)
    except Exception:  # the check itself will show what building does
        return None
    names = dict(module.named_parameters()) if hasattr(module, "named_parameters") else {}
    missing = sorted(set(config.param_shapes()) - set(names))
    if missing:
        return (f"its named_parameters() do not use nn.LSTM's names (no {', '.join(missing)}): "
                "replacing, reparametrizing or pruning a weight by name does not apply")
    return None


class _Halved(nn.Module):
    """A parametrization: the weight as stored, halved."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * 0.5


@invariant(
    id="parameter-identity", title="The module reads the parameters it has now",
    statement="After a first call, a weight replaced by a new nn.Parameter, reparametrized "
    "with torch.nn.utils.parametrize, or pruned with torch.nn.utils.prune is what the next "
    "call computes with: the results equal a module loaded with the new values.",
    expression="module.weight_ih_l0 = Parameter(W'); register_parametrization(module, "
    "'weight_ih_l0', W -> W/2); prune.l1_unstructured(module, 'weight_ih_l0', 0.5), each on "
    "a module already called once: "
    "lstm(x) == lstm loaded with the effective weights, within spec.tolerance.forward",
    cases=dict(forms=(Form.BATCHED,), max_seq_len=4, **PLAIN_CALL),
    catches=("parameters captured at construction: pruning or reassignment ignored "
             "(pytorch#33618)",),
    precheck=lstm_parameters,
)
def parameter_identity(subject: Subject, case: Case) -> None:
    # weight_ih_l0 acts at every step of every case (W_hh does not at one step from zeros).
    new = make_weights(case.config, case.weight_seed + 7, 1.0, case.dtype)["weight_ih_l0"]

    def assign(module):
        module.weight_ih_l0 = nn.Parameter(new.clone())
        return {"weight_ih_l0": new}

    def reparametrize(module):
        parametrize.register_parametrization(module, "weight_ih_l0", _Halved())
        return {"weight_ih_l0": case.weights["weight_ih_l0"] * 0.5}

    def pruned(module):
        prune.l1_unstructured(module, "weight_ih_l0", amount=0.5)
        return {"weight_ih_l0": module.weight_ih_l0.detach().clone()}

    for what, change in (("a new nn.Parameter for weight_ih_l0", assign),
                         ("parametrize on weight_ih_l0 (halved)", reparametrize),
                         ("prune.l1_unstructured on weight_ih_l0", pruned)):
        module = subject.module_for(case)
        names = dict(module.named_parameters()) if hasattr(module, "named_parameters") else {}
        if not set(case.weights) <= set(names):
            raise NotApplicable("needs named_parameters() under nn.LSTM's names")
        subject.call(module, case)
        effective = _guarded(what, change, module)
        got = subject.call(module, case)
        want = subject.run(case.replace(weights={**case.weights, **effective}))
        compare_all(got.triple, want.triple, case,
                    f"after {what} vs a module loaded with those values",
                    check="parameter-followed")


# -- edges of the shape space ----------------------------------------------------------


@invariant(
    id="empty-batch", title="A batch of none gives empty results",
    statement="A batch of 0 sequences, with and without (h0, c0), gives empty results of "
    "nn.LSTM's shapes: output (T, 0, D*H_out) (batch-first (0, T, D*H_out)), h_n "
    "(D*num_layers, 0, H_out), c_n (D*num_layers, 0, H).",
    expression="lstm(x[:, :0], hx[:, :0]) -> shapes with N = 0, no exception",
    cases=dict(forms=(Form.BATCHED,), max_seq_len=4),
    catches=("time and batch folded into one GEMM fail on an empty batch (tensorflow#2127, "
             "ROCm/pytorch#1388)",),
)
def empty_batch(subject: Subject, case: Case) -> None:
    hx = None if case.hx is None else tuple(s[:, :0] for s in case.hx)
    empty = case.replace(x=case.x[:, :0], hx=hx)
    _results_of(subject, subject.module_for(empty), empty, check="empty-batch-answered",
                what=f"nn.LSTM answers a batch of 0 sequences (input {tuple(empty.x.shape)}, "
                "seq-first) with empty results")


# -- output ownership ------------------------------------------------------------------


def _storage(t: torch.Tensor) -> int | None:
    return t.untyped_storage().data_ptr() if t.numel() else None


@invariant(
    id="output-ownership", title="The caller owns what a call returns",
    statement="The tensors a call returns (in any autograd mode) are left alone by later "
    "calls of the module (with grad, under no_grad, under inference_mode), and share "
    "memory with neither the caller's input and state nor the module's parameters.",
    expression="o, h_n, c_n of a call == their copies after three more calls on other "
    "input, bitwise; their storages differ from those of x, h0, c0 and every parameter",
    cases=dict(forms=(Form.BATCHED, Form.UNBATCHED), batch_first=False, layouts=("dense",),
               frozen=("none",)),
    catches=("outputs of a captured graph overwritten by the next run (pytorch#104435)",
             "an output buffer reused between calls"),
)
def output_ownership(subject: Subject, case: Case) -> None:
    module = subject.module_for(case)
    first = subject.call(module, case)
    returned = {"output": first.raw, "h_n": first.h_n, "c_n": first.c_n}
    kept = {name: t.detach().clone() for name, t in returned.items()}
    others = {"input": case.x, **({"h0": case.hx[0], "c0": case.hx[1]} if case.hx else {})}
    if hasattr(module, "named_parameters"):
        others.update(module.named_parameters())
    storages = {_storage(t): name for name, t in others.items() if _storage(t) is not None}
    for name, t in returned.items():
        if _storage(t) in storages:
            raise Violation(f"the returned {name} shares memory with "
                            f"{storages[_storage(t)]}: the caller's tensors and the module's "
                            "parameters are not the results' to use",
                            {"check": "output-aliases", "tensor": name,
                             "input": storages[_storage(t)]})
    config = case.config
    x2 = make_input(config, case.seq_len, case.batch, case.weight_seed + 11, 1.0, case.dtype)
    hx2 = None if case.hx is None else make_state(config, case.batch, case.weight_seed + 11,
                                                   case.dtype)
    # every autograd mode the implementation supports (without no_grad: with grad only)
    modes = [GradMode.GRAD] if "no_grad" in subject.unsupported else list(GradMode)
    for mode in modes:
        subject.call(module, case.replace(x=x2, hx=hx2, grad_mode=mode))
    for name, dims in (("output", OUTPUT_DIMS if case.form == Form.BATCHED else None),
                       ("h_n", STATE_DIMS), ("c_n", STATE_DIMS)):
        assert_equal(returned[name], kept[name],
                     f"the first call's {name} after three more calls vs as returned",
                     dims if returned[name].dim() == 3 else None, check="output-overwritten",
                     name=name)
