"""Measure how far PyTorch's dynamically quantized LSTMs are from nn.LSTM, and how they break
nn.LSTM's structural identities. The declared tolerances and README's figures come from here.

Two parts, both over random configurations drawn like the suite's cases (weights
U(-k, k), k = scale / sqrt(hidden), scale 1 or 3; input standard normal, x1 or x100; h0 in
(-1, 1), c0 standard normal, or no hx):

* ``accuracy``: max |quantized - nn.LSTM(float32)| of output, h_n and c_n, dense and packed
  input, 1..3 layers, uni- and bidirectional, in three size regimes (``REGIMES``):
  ``suite`` (hidden 1..6, input 1..5, seq 1..8, batch 1..5: what the suite draws),
  ``long`` (the same with seq up to 64) and ``large`` (hidden, input, seq up to 64).
  For each tensor it also reports the largest |diff| / (1 + |ref|), which
  says whether the error grows with the value (relevant for c, which is not bounded by 1),
  and the largest error divided by the suite's magnitude factor, max(1, magnitude / 16)
  (``spec.tolerance.forward`` scales its atol by it; ``Case.magnitude`` is the largest
  sum_j |W_ih_l0[i, j] x[t, b, j]| plus one).
* ``structure``: each relation nn.LSTM satisfies up to float rounding, evaluated on the
  quantized module alone (no reference involved), as the max |diff| between its two sides:
  causality (prefix x[:k] vs the first k steps of x), batch independence (element b alone
  vs in the batch; and packed, each sequence alone at its true length), batch permutation,
  state continuation (x[:k] then x[k:] vs x), layers stacking (chained one-layer runs),
  time reversal, packed-uniform vs dense, batch_first vs seq-first, and the checks that
  are bitwise by definition (determinism, hx=None vs zeros, h_n vs the last output step,
  eval-mode dropout). The last column divides by the magnitude factor, as above.

Usage (OMP_NUM_THREADS=1 as the suite runs)::

    python tools/measure.py                      # both parts, both dtypes, 400 configs each
    python tools/measure.py --cases 1500 --json measure.json     # README's figures
    python tools/measure.py --cases 3000 --regime suite                # the suite's sizes

Deterministic for a given --seed.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from quantized_lstm import DynamicFloat16LSTM, DynamicInt8LSTM

IMPLEMENTATIONS = {"dynamic-int8": DynamicInt8LSTM, "dynamic-float16": DynamicFloat16LSTM}
WEIGHT_SCALES = (1.0, 3.0)
INPUT_SCALES = (1.0, 100.0)


@dataclass
class Draw:
    """One random configuration and its data seeds."""

    regime: str
    input_size: int
    hidden_size: int
    num_layers: int
    bidirectional: bool
    seq_len: int
    batch: int
    weight_scale: float
    input_scale: float
    with_hx: bool
    seed: int

    def kwargs(self) -> dict:
        return dict(input_size=self.input_size, hidden_size=self.hidden_size,
                    num_layers=self.num_layers, bidirectional=self.bidirectional)


#: regime -> (max hidden, max input, max seq_len, max batch). ``suite`` is what the suite's
#: strategies draw (spec/strategies.py: hidden 1..6, input 1..5, seq 1..8, batch 1..5);
#: ``long`` the same sizes with sequences up to 64; ``large`` everything up to 64.
REGIMES = {"suite": (6, 5, 8, 5), "long": (6, 5, 64, 8), "large": (64, 64, 64, 8)}


def draw(rng: random.Random, regime: str, seed: int) -> Draw:
    hidden, inp, seq, batch = REGIMES[regime]
    return Draw(regime, rng.randint(1, inp), rng.randint(1, hidden), rng.randint(1, 3),
                rng.random() < 0.5, rng.randint(1, seq), rng.randint(1, batch),
                rng.choice(WEIGHT_SCALES), rng.choice(INPUT_SCALES), rng.random() < 0.5, seed)


def data(d: Draw, num_layers: int | None = None, bidirectional: bool | None = None):
    """nn.LSTM reference (weights U(-k, k)), input and optional (h0, c0) for ``d``."""
    g = torch.Generator().manual_seed(d.seed)
    layers = d.num_layers if num_layers is None else num_layers
    bidir = d.bidirectional if bidirectional is None else bidirectional
    ref = nn.LSTM(d.input_size, d.hidden_size, layers, bidirectional=bidir)
    bound = d.weight_scale / math.sqrt(d.hidden_size)
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_((torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1) * bound)
    x = (torch.randn(d.seq_len, d.batch, d.input_size, generator=g, dtype=torch.float64)
         * d.input_scale).float()
    hx = None
    if d.with_hx:
        rows = layers * (2 if bidir else 1)
        h0 = torch.rand(rows, d.batch, d.hidden_size, generator=g) * 2 - 1
        c0 = torch.randn(rows, d.batch, d.hidden_size, generator=g)
        hx = (h0, c0)
    return ref, x, hx


def quantized(cls, ref: nn.LSTM, **overrides):
    kw = dict(input_size=ref.input_size, hidden_size=ref.hidden_size,
              num_layers=ref.num_layers, bidirectional=ref.bidirectional)
    kw.update(overrides)
    m = cls(**kw)
    m.load_state_dict(ref.state_dict())
    return m.eval()


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max()) if a.numel() else 0.0


def reldiff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / (1 + |b|): flat where the error does not grow with the value."""
    if not a.numel():
        return 0.0
    return float(((a.double() - b.double()).abs() / (1 + b.double().abs())).max())


def case_magnitude(ref: nn.LSTM, x: torch.Tensor) -> float:
    """The suite's Case.magnitude: the largest sum_j |W_ih_l0[i, j] x[t, b, j]|, plus one."""
    return 1.0 + max(float((x.abs().double() @ w.abs().double().T).max())
                     for n, w in ref.state_dict().items() if n.startswith("weight_ih_l0"))


# --- accuracy -------------------------------------------------------------------------------

def accuracy_case(cls, d: Draw, rng: random.Random) -> dict:
    ref, x, hx = data(d)
    q = quantized(cls, ref)
    with torch.no_grad():
        lengths = None
        if rng.random() < 0.3:  # packed, unsorted lengths, one of them the full length
            lengths = [rng.randint(1, d.seq_len) for _ in range(d.batch)]
            lengths[rng.randrange(d.batch)] = d.seq_len
            packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
            e_out, (e_h, e_c) = ref(packed, hx)
            a_out, (a_h, a_c) = q(packed, hx)
            e_out = pad_packed_sequence(e_out, total_length=d.seq_len)[0]
            a_out = pad_packed_sequence(a_out, total_length=d.seq_len)[0]
        else:
            e_out, (e_h, e_c) = ref(x, hx)
            a_out, (a_h, a_c) = q(x, hx)
    magnitude = case_magnitude(ref, x)
    factor = max(1.0, magnitude / 16.0)  # spec.tolerance's scaling of atol
    return {
        "form": "packed" if lengths else "dense", "magnitude": magnitude,
        "scaled": max(maxdiff(a_out, e_out), maxdiff(a_h, e_h), maxdiff(a_c, e_c)) / factor,
        "output": maxdiff(a_out, e_out), "h_n": maxdiff(a_h, e_h), "c_n": maxdiff(a_c, e_c),
        "c_n_rel": reldiff(a_c, e_c), "max_abs_c": float(e_c.abs().max()),
    }


# --- structure ------------------------------------------------------------------------------

def structure_case(cls, d: Draw, rng: random.Random) -> dict:
    """The quantized module against itself, one figure per relation (0.0 = bitwise equal)."""
    out: dict[str, float] = {}
    ref, x, hx = data(d)
    q = quantized(cls, ref)
    with torch.no_grad():
        o, (h, c) = q(x, hx)
        o2, (h2, c2) = q(x, hx)
        out["determinism"] = max(maxdiff(o, o2), maxdiff(h, h2), maxdiff(c, c2))
        top = (d.num_layers - 1) * (2 if d.bidirectional else 1)
        out["last-step-forward"] = maxdiff(h[top], o[-1, :, : d.hidden_size])
        if hx is None:
            rows = d.num_layers * (2 if d.bidirectional else 1)
            z = torch.zeros(rows, d.batch, d.hidden_size)
            oz, (hz, cz) = q(x, (z, z))
            out["hx-none-is-zeros"] = max(maxdiff(o, oz), maxdiff(h, hz), maxdiff(c, cz))
        # batch independence: one element alone vs within the batch
        if d.batch > 1:
            b = rng.randrange(d.batch)
            hb = None if hx is None else (hx[0][:, b:b + 1], hx[1][:, b:b + 1])
            ob, (hb_n, cb_n) = q(x[:, b:b + 1], hb)
            out["batch-independence"] = max(maxdiff(ob, o[:, b:b + 1]),
                                            maxdiff(hb_n, h[:, b:b + 1]),
                                            maxdiff(cb_n, c[:, b:b + 1]))
            p = torch.randperm(d.batch, generator=torch.Generator().manual_seed(d.seed))
            hp = None if hx is None else (hx[0][:, p], hx[1][:, p])
            op, (h_p, c_p) = q(x[:, p], hp)
            out["batch-permutation"] = max(maxdiff(op, o[:, p]), maxdiff(h_p, h[:, p]),
                                           maxdiff(c_p, c[:, p]))
        # packed, unsorted lengths: each sequence alone at its true length vs in the batch
        if d.batch > 1:
            lengths = [rng.randint(1, d.seq_len) for _ in range(d.batch)]
            lengths[rng.randrange(d.batch)] = d.seq_len
            b = rng.randrange(d.batch)
            pk = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
            opk, (hpk, cpk) = q(pk, hx)
            opk = pad_packed_sequence(opk, total_length=d.seq_len)[0]
            n = lengths[b]
            hb = None if hx is None else (hx[0][:, b:b + 1], hx[1][:, b:b + 1])
            ob, (hb_n, cb_n) = q(x[:n, b:b + 1], hb)
            out["packed-per-sequence"] = max(maxdiff(ob, opk[:n, b:b + 1]),
                                             maxdiff(hb_n, hpk[:, b:b + 1]),
                                             maxdiff(cb_n, cpk[:, b:b + 1]))
        # layers stack: num_layers=L is L chained one-layer runs of the same implementation
        if d.num_layers > 1:
            D = 2 if d.bidirectional else 1
            layer_in, worst = x, 0.0
            sd = ref.state_dict()
            for layer in range(d.num_layers):
                one = nn.LSTM(layer_in.shape[-1], d.hidden_size, bidirectional=d.bidirectional)
                one.load_state_dict({name.replace(f"_l{layer}", "_l0"): v
                                     for name, v in sd.items() if f"_l{layer}" in name})
                rows = slice(layer * D, (layer + 1) * D)
                hk = None if hx is None else (hx[0][rows], hx[1][rows])
                layer_in, (h_k, c_k) = quantized(cls, one)(layer_in, hk)
                worst = max(worst, maxdiff(h_k, h[rows]), maxdiff(c_k, c[rows]))
            out["stacked-layers"] = max(worst, maxdiff(layer_in, o))
        # time reversal: the backward half is a forward LSTM with the _reverse weights on
        # flip(x) (one bidirectional layer)
        if d.bidirectional and d.num_layers == 1:
            fwd = nn.LSTM(d.input_size, d.hidden_size)
            fwd.load_state_dict({name.replace("_reverse", ""): v
                                 for name, v in ref.state_dict().items()
                                 if name.endswith("_reverse")})
            hr = None if hx is None else (hx[0][1:], hx[1][1:])
            o_r, (h_r, c_r) = quantized(cls, fwd)(x.flip(0), hr)
            out["time-reversal"] = max(maxdiff(o_r.flip(0), o[..., d.hidden_size:]),
                                       maxdiff(h_r, h[1:]), maxdiff(c_r, c[1:]))
        # batch_first is a layout only
        qbf = quantized(cls, ref, batch_first=True)
        obf, (hbf, cbf) = qbf(x.transpose(0, 1).contiguous(), hx)
        out["batch-first"] = max(maxdiff(obf.transpose(0, 1), o), maxdiff(hbf, h),
                                 maxdiff(cbf, c))
        # packing equal lengths changes nothing
        packed = pack_padded_sequence(x, torch.tensor([d.seq_len] * d.batch))
        opk, (hpk, cpk) = q(packed, hx)
        opk = pad_packed_sequence(opk)[0]
        out["packed-uniform-is-dense"] = max(maxdiff(opk, o), maxdiff(hpk, h), maxdiff(cpk, c))
        if d.seq_len > 1:
            k = rng.randint(1, d.seq_len - 1)
            # causality (forward direction): a prefix gives a prefix. Only where nn.LSTM has
            # the property: with 2+ bidirectional layers the forward half of layer 2 reads
            # layer 1's backward half, which has seen the future (the suite, too, checks
            # bidirectional cases with one layer).
            if not (d.bidirectional and d.num_layers > 1):
                ok = q(x[:k], hx)[0]
                out["causality"] = maxdiff(ok[..., : d.hidden_size],
                                           o[:k, ..., : d.hidden_size])
            # state continuation, one unidirectional layer of the same weights
            ref1, _, _ = data(d, num_layers=1, bidirectional=False)
            q1 = quantized(cls, ref1)
            hx1 = None if hx is None else (hx[0][:1], hx[1][:1])
            o_all, (h_all, c_all) = q1(x, hx1)
            o1, s1 = q1(x[:k], hx1)
            o2, (h_2, c_2) = q1(x[k:], s1)
            out["state-continuation"] = max(maxdiff(torch.cat([o1, o2]), o_all),
                                            maxdiff(h_2, h_all), maxdiff(c_2, c_all))
        # dropout is off in eval mode (needs two layers)
        if d.num_layers > 1:
            qd = quantized(cls, ref, dropout=0.5)
            od, (hd, cd) = qd(x, hx)
            out["dropout-eval"] = max(maxdiff(od, o), maxdiff(hd, h), maxdiff(cd, c))
    return out


# --- driver ---------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def run_accuracy(name: str, cls, cases: int, seed: int, rows: list, regimes: list) -> None:
    rng = random.Random(seed)
    for i in range(cases):
        regime = regimes[i % len(regimes)]
        d = draw(rng, regime, seed * 100_000 + i)
        rows.append({"impl": name, **asdict(d), **accuracy_case(cls, d, rng)})


def summarize_accuracy(rows: list, name: str) -> None:
    mine = [r for r in rows if r["impl"] == name]
    print(f"\n## accuracy: {name} vs nn.LSTM (float32), {len(mine)} configurations")
    print(f"{'subset':34s} {'n':>4s} {'output':>9s} {'h_n':>9s} {'c_n':>9s} "
          f"{'c_n/(1+|c|)':>11s} {'p99 all':>9s} {'/mag. fac.':>10s}")
    subsets = {"all": mine}
    for regime in REGIMES:
        for ws in WEIGHT_SCALES:
            for xs in INPUT_SCALES:
                subsets[f"{regime}, weights x{ws:g}, input x{xs:g}"] = [
                    r for r in mine if r["regime"] == regime and r["weight_scale"] == ws
                    and r["input_scale"] == xs]
    subsets["packed input"] = [r for r in mine if r["form"] == "packed"]
    for label, rs in subsets.items():
        if not rs:
            continue
        worst = {k: max(r[k] for r in rs) for k in ("output", "h_n", "c_n", "c_n_rel")}
        p99 = percentile([max(r["output"], r["h_n"], r["c_n"]) for r in rs], 0.99)
        scaled = max(r["scaled"] for r in rs)
        print(f"{label:34s} {len(rs):4d} {worst['output']:9.2e} {worst['h_n']:9.2e} "
              f"{worst['c_n']:9.2e} {worst['c_n_rel']:11.2e} {p99:9.2e} {scaled:10.2e}")
    worst = max(mine, key=lambda r: max(r["output"], r["h_n"], r["c_n"]))
    print("worst case:", {k: worst[k] for k in (
        "regime", "input_size", "hidden_size", "num_layers", "bidirectional", "seq_len",
        "batch", "weight_scale", "input_scale", "with_hx", "form", "seed", "output", "h_n",
        "c_n", "max_abs_c")})


def run_structure(name: str, cls, cases: int, seed: int, rows: list, regimes: list) -> None:
    rng = random.Random(seed + 1)
    for i in range(cases):
        regime = regimes[i % len(regimes)]
        d = draw(rng, regime, seed * 100_000 + 50_000 + i)
        _, x, _ = data(d)
        factor = max(1.0, case_magnitude(data(d)[0], x) / 16.0)
        rows.append({"impl": name, **asdict(d), "relations": structure_case(cls, d, rng),
                     "factor": factor})


#: Columns of the structure table: (label, regime or None for all, input scale or None).
STRUCTURE_COLUMNS = [("suite x1", "suite", 1.0), ("suite x100", "suite", 100.0),
                     ("long x1", "long", 1.0), ("large x1", "large", 1.0),
                     ("large x100", "large", 100.0), ("all", None, None)]


def summarize_structure(rows: list, name: str) -> None:
    mine = [r for r in rows if r["impl"] == name]
    print(f"\n## structure: {name} against itself, {len(mine)} configurations; "
          "max |diff| per regime and input scale (0 = bitwise equal every time)")
    print(f"{'relation':24s} {'n':>4s} {'nonzero':>7s} {'median':>9s} "
          + " ".join(f"{c[0]:>10s}" for c in STRUCTURE_COLUMNS) + f" {'/mag. fac.':>10s}")
    for rel in sorted({k for r in mine for k in r["relations"]}):
        vals = [(r, r["relations"][rel]) for r in mine if rel in r["relations"]]
        cells = []
        for _, regime, xs in STRUCTURE_COLUMNS:
            sel = [v for r, v in vals if (regime is None or r["regime"] == regime)
                   and (xs is None or r["input_scale"] == xs)]
            cells.append(f"{max(sel):10.2e}" if sel else f"{'-':>10s}")
        nonzero = sum(v > 0 for _, v in vals)
        median = percentile([v for _, v in vals], 0.5)
        scaled = max(v / r["factor"] for r, v in vals)
        print(f"{rel:24s} {len(vals):4d} {nonzero:7d} {median:9.2e} " + " ".join(cells)
              + f" {scaled:10.2e}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["accuracy", "structure", "both"], default="both")
    ap.add_argument("--impl", choices=[*IMPLEMENTATIONS, "both"], default="both")
    ap.add_argument("--cases", type=int, default=400, help="configurations per part and impl")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--regime", choices=[*REGIMES, "all"], default="all",
                    help="draw every configuration from one size regime")
    ap.add_argument("--json", help="write every measured case here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, quantized engine {torch.backends.quantized.engine}, "
          f"seed {args.seed}, {args.cases} configurations per part and implementation, "
          f"regime {args.regime}")
    impls = IMPLEMENTATIONS if args.impl == "both" else {args.impl: IMPLEMENTATIONS[args.impl]}
    regimes = list(REGIMES) if args.regime == "all" else [args.regime]
    acc, struct = [], []
    start = time.time()
    for name, cls in impls.items():
        if args.part in ("accuracy", "both"):
            run_accuracy(name, cls, args.cases, args.seed, acc, regimes)
            summarize_accuracy(acc, name)
            sys.stdout.flush()
        if args.part in ("structure", "both"):
            run_structure(name, cls, args.cases, args.seed, struct, regimes)
            summarize_structure(struct, name)
            sys.stdout.flush()
    print(f"\n{time.time() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"accuracy": acc, "structure": struct}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
