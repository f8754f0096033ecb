"""A case you can step through: one standalone Python script per failure.

Each script rebuilds the counterexample's configuration, weights, input and state from the
spec's own functions (the case records its seeds and scales), loads the implementation
through its entry point, calls it and ``torch.nn.LSTM`` side by side and prints both, then
runs the invariant's check on the case, which raises the failure. No pytest, no
hypothesis: a kernel author can run it under a debugger. The run writes the scripts to
``DIR/scripts/``; the report shows them.
"""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATE = '''"""{impl} fails {invariant}: a standalone reproduction.

{message}

Run it in the environment that ran the checks, from anywhere:

    python REPORT_DIR/{path}

It needs lstm-conformance and {impl}'s distribution installed; nothing else.
"""

import torch

from conformance.discovery import load, registered
from spec.case import Case
from spec.config import LSTMConfig
from spec.harness import Subject
from spec.invariants import by_id
from spec.strategies import (DTYPES, INPUT_SCALES, WEIGHT_SCALES, make_input, make_state,
                             make_weights)

config = LSTMConfig({config})
dtype = DTYPES[{dtype!r}]
seed, seq_len, batch = {seed}, {seq_len}, {batch}
weights = make_weights(config, seed, WEIGHT_SCALES[{weight_scale!r}], dtype)
x = make_input(config, seq_len, batch, seed, INPUT_SCALES[{input_scale!r}][dtype], dtype)
hx = {hx}
case = Case(config, dtype, weights, x, hx, form={form!r}, lengths={lengths},
            enforce_sorted={enforce_sorted}, training={training}, weight_seed=seed,
            weight_scale={weight_scale!r}, input_scale={input_scale!r})

implementation = load(registered()[{impl!r}])[0]
reference = Subject("torch.nn.LSTM", torch.nn.LSTM)
torch.manual_seed(0)
mine = implementation.run(case)
theirs = reference.run(case)
torch.set_printoptions(precision=6, linewidth=120)
for name, a, b in zip(("output", "h_n", "c_n"), mine.triple, theirs.triple):
    print(f"--- {{name}} ({{tuple(a.shape)}}, seq-first)")
    print({impl!r}, a.detach(), sep="\\n")
    print("torch.nn.LSTM", b.detach(), sep="\\n")
    print("max |diff|:", float((a.detach().double() - b.detach().double()).abs().max()))

# The invariant itself, on the same case: this raises the failure (set a breakpoint here).
print("--- {invariant}")
by_id({invariant!r}).check(implementation, case{extra})
print("the check passed on this case: the failure depends on state this script does not "
      "recreate (the module's history, or a random dropout mask)")
'''


def script_for(impl: str, invariant_id: str, failure: dict, path: str) -> str | None:
    """The script's source for one failure, or None when its case cannot be rebuilt."""
    counterexample = failure.get("counterexample") or {}
    case = counterexample.get("case")
    if not isinstance(case, dict) or "weight_seed" not in case or counterexample.get("steps"):
        return None
    config_fields = ("input_size", "hidden_size", "num_layers", "bias", "batch_first",
                     "dropout", "bidirectional", "proj_size")
    config = ", ".join(f"{k}={case[k]!r}" for k in config_fields)
    lengths = case.get("lengths")
    extra = counterexample.get("extra")
    if extra is None and _needs_extra(invariant_id):
        return None  # a script without the check's extra draw would only raise TypeError
    if isinstance(extra, list):
        extra = tuple(extra)
    message = str(failure.get("message") or "").strip().splitlines()[0][:500]
    return TEMPLATE.format(
        impl=impl, invariant=invariant_id, message=message, path=path, config=config,
        dtype=case["dtype"], seed=case["weight_seed"], seq_len=case["seq_len"],
        batch=case["batch"], weight_scale=case["weight_scale"],
        input_scale=case["input_scale"],
        hx="make_state(config, batch, seed, dtype)" if case.get("initial_state") else "None",
        form=case["form"], lengths=None if lengths is None else tuple(lengths),
        enforce_sorted=bool(case.get("enforce_sorted")), training=bool(case.get("training")),
        extra="" if extra is None else f", {extra!r}")


def _needs_extra(invariant_id: str) -> bool:
    """Whether the invariant's check takes an extra draw (a split point, a permutation)."""
    from spec.invariants import by_id

    try:
        return by_id(invariant_id).extra is not None
    except KeyError:
        return False


def write_scripts(report_dir: Path, document: dict) -> None:
    """Write a script for every failure that has a rebuildable case; note its path (relative
    to the report directory) in the failure's ``script``."""
    folder = report_dir / "scripts"
    for impl, entry in document["implementations"].items():
        for invariant_id, result in entry["results"].items():
            for n, failure in enumerate(result.get("failures") or [], 1):
                name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{impl}__{invariant_id}__{n}.py")
                source = script_for(impl, invariant_id, failure, f"scripts/{name}")
                if source is None:
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                (folder / name).write_text(source)
                failure["script"] = f"scripts/{name}"
                failure["script_source"] = source
