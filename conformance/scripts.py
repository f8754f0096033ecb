"""A case you can step through: one standalone Python script per failure.

Each script rebuilds the counterexample's configuration, weights, input and state from the
spec's own functions (the case records its seeds and scales), loads the implementation
through its entry point and runs the invariant's check on the case, noting every call the
check makes. It prints the last call's values beside ``torch.nn.LSTM``'s on the same case:
the case the check failed on, which a check such as zero-weights makes from the
counterexample. Then it raises the failure. No pytest, no hypothesis: a kernel author can
run it under a debugger. The run writes the scripts to ``DIR/scripts/``; the report shows
them.
"""

from __future__ import annotations

import pprint
import re
from pathlib import Path

TEMPLATE = '''"""{impl} fails {invariant}: a standalone reproduction.

{message}

Run it in the environment that ran the checks, from anywhere:

    python REPORT_DIR/{path}

It needs lstm-conformance and {impl}'s distribution installed; nothing else.
"""

import torch

from lstm_conformance.discovery import load, registered
from lstm_conformance.spec.harness import FROM_CASE, Subject
from lstm_conformance.spec.invariants import by_id
from lstm_conformance.spec.strategies import rebuild_case

# The counterexample, made again from its seed and scales (and called with its memory
# layout, autograd mode and frozen weights, as the check called it).
case = rebuild_case({description})

loaded = load(registered()[{impl!r}])[0]
called = []  # every call the check makes: (case, input, state, form, lengths, result)


class Watched(Subject):
    """The implementation, noting each call the check makes on it."""

    def call(self, module, case, x=None, hx=FROM_CASE, *, form=None, lengths=FROM_CASE):
        result = super().call(module, case, x, hx, form=form, lengths=lengths)
        called.append((case, x, hx, form, lengths, result))
        return result


implementation = Watched(loaded.name, loaded.factory, loaded.unsupported)
reference = Subject("torch.nn.LSTM", torch.nn.LSTM)

# The invariant on the case (set a breakpoint here): it raises the failure below, after
# the values of the call it failed on are printed.
torch.manual_seed(0)
try:
    by_id({invariant!r}).check(implementation, case{extra})
    failure = None
except Exception as exc:
    failure = exc

# Side by side: the last call the check made (the case it failed on, as the check made it
# from the counterexample), and torch.nn.LSTM on the same case.
if called:
    on, x, hx, form, lengths, mine = called[-1]
    theirs = reference.call(reference.module_for(on), on, x, hx, form=form, lengths=lengths)
    torch.set_printoptions(precision=6, linewidth=120)
    print("--- the call the check failed on:", on.describe())
    for name, a, b in zip(("output", "h_n", "c_n"), mine.triple, theirs.triple):
        print(f"--- {{name}} ({{tuple(a.shape)}}, seq-first)")
        print({impl!r}, a.detach(), sep="\\n")
        print("torch.nn.LSTM", b.detach(), sep="\\n")
        print("max |diff|:", float((a.detach().double() - b.detach().double()).abs().max()))
print("--- {invariant}")
if failure is not None:
    raise failure
print("the check passed on this case: the failure depends on state this script does not "
      "recreate (the module's history, or a random dropout mask)")
'''


#: The script of a state machine's failure: the recorded sequence of operations, replayed.
PROGRAM_TEMPLATE = '''"""{impl} fails {invariant}: a standalone reproduction.

{message}

Run it in the environment that ran the checks, from anywhere:

    python REPORT_DIR/{path}

It needs lstm-conformance and {impl}'s distribution installed; nothing else.
"""

import torch

from lstm_conformance.discovery import load, registered
from lstm_conformance.spec.invariants import by_id
from lstm_conformance.spec.stateful import play

# The operations that led to the failure, in order, as the state machine ran them on the
# implementation and on a torch.nn.LSTM twin: (rule, arguments).
program = {program}

implementation = load(registered()[{impl!r}])[0]
torch.manual_seed(0)
# Each operation in turn (set a breakpoint in spec/stateful.py's rules); the last raises.
play(by_id({invariant!r}).machine(implementation), program)
print("the program ran without the failure: it depends on a random dropout mask")
'''


def script_for(impl: str, invariant_id: str, failure: dict, path: str) -> str | None:
    """The script's source for one failure, or None when its case cannot be rebuilt."""
    counterexample = failure.get("counterexample") or {}
    if counterexample.get("program"):
        return PROGRAM_TEMPLATE.format(
            impl=impl, invariant=invariant_id, path=path,
            message=str(failure.get("message") or "").strip().splitlines()[0][:500],
            program=pprint.pformat([list(step) for step in counterexample["program"]],
                                   indent=4, width=88, sort_dicts=False))
    case = counterexample.get("case")
    if not isinstance(case, dict) or "weight_seed" not in case or counterexample.get("steps"):
        return None
    extra = counterexample.get("extra")
    if extra is None and _needs_extra(invariant_id):
        return None  # a script without the check's extra draw would only raise TypeError
    if isinstance(extra, list):
        extra = tuple(extra)
    # the script rebuilds the shrunk case: its own message, not a larger error of record
    message = str(failure.get("minimal_message") or failure.get("message") or "")
    message = message.strip().splitlines()[0][:500]
    return TEMPLATE.format(
        impl=impl, invariant=invariant_id, message=message, path=path,
        description=pprint.pformat(case, indent=4, width=88, sort_dicts=False),
        extra="" if extra is None else f", {extra!r}")


def _needs_extra(invariant_id: str) -> bool:
    """Whether the invariant's check takes an extra draw (a split point, a permutation)."""
    from lstm_conformance.spec.invariants import by_id

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
