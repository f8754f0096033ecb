"""The condition of a crash: the runner's search for what triggers a failure, run where a
crash cannot end it.

When a check kills its worker (a segfault, an abort, an ``exit()`` in native code), the
controller knows the case that was running (``conformance.crashwatch``) but not what in it
triggers the crash. ``crash_condition`` finds out as ``conformance.runner`` does for any
failure: each feature of the crashing case is left out in turn for a fresh search of the
check (without shrinking: only whether it still crashes matters), and the case is replayed
in the other full-precision dtype (a state machine's crash has a program, not a case:
each feature its program exercises is left out in turn). Each probe runs in a fresh
process of its own (``python -m lstm_conformance.crashsearch``), so a probe that crashes
answers "still crashes" instead of ending the search; a probe that completes, whatever
its verdict, shows that the crash needs the feature it left out. All the probes together
get one check's time limit; a probe that outlives what is left of it proves nothing, and
features not probed by then are not blamed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

#: The line a probe prints last: whether it completed, and how.
ANSWER = "CRASH-PROBE "
DTYPE_NAMES = frozenset({"float32", "float64", "float16", "bfloat16"})


def features_of(counterexample: dict) -> frozenset[str] | None:
    """The features a crashed counterexample exercises: its case's, or its program's (a
    state machine's); None when neither can be rebuilt."""
    from lstm_conformance.spec.stateful import program_features
    from lstm_conformance.spec.strategies import rebuild_case

    try:
        if counterexample.get("program"):
            return program_features(counterexample["program"])
        return rebuild_case(counterexample["case"]).features()
    except Exception:
        return None


def crash_condition(impl: str, invariant_id: str, counterexample: dict, *,
                    profile: str, seed: int | str | None, exclude: list[str] = (),
                    timeout: float = 120) -> frozenset[str] | None:
    """The features of the crashed ``counterexample`` (its ``case`` and ``extra`` draw, or
    a state machine's ``program``) without which ``invariant_id`` no longer crashes
    ``impl``; None when it cannot be rebuilt."""
    from lstm_conformance.spec.invariants import by_id

    features = features_of(counterexample)
    try:
        invariant = by_id(invariant_id)
    except KeyError:
        return None
    if features is None:
        return None
    base = {"impl": impl, "invariant": invariant_id, "profile": profile, "seed": seed,
            "exclude": list(exclude)}
    probes = []
    case, extra = counterexample.get("case") or {}, counterexample.get("extra")
    dtype = case.get("dtype")
    if dtype in ("float32", "float64") and not counterexample.get("program"):
        probes.append((dtype, {**base, "replay": {
            "case": case, "extra": extra,
            "dtype": "float64" if dtype == "float32" else "float32"}}))
    probes += [(f, {**base, "without": f})
               for f in sorted(features - DTYPE_NAMES - invariant.requires)]
    deadline = time.monotonic() + timeout  # all probes together: one check's time limit
    needed = set()
    for feature, probe in probes:
        left = deadline - time.monotonic()
        if left <= 0:
            break  # what was not probed is not blamed
        if _completes(probe, left):
            needed.add(feature)
    return frozenset(needed)


def _completes(probe: dict, timeout: float) -> bool:
    """Whether ``probe`` ran to its end in a fresh process (its answer printed, exit 0)."""
    try:
        done = subprocess.run([sys.executable, "-m", "lstm_conformance.crashsearch",
                               json.dumps(probe, default=str)],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and ANSWER in done.stdout


def _probe(probe: dict) -> str:
    """In the fresh process: the check's search without one feature, or one case replayed
    in another dtype; returns the status it ended with (it did not crash)."""
    from hypothesis import settings

    from lstm_conformance.attempt import run_attempt, without_shrinking
    from lstm_conformance.profiles import profile_settings
    from lstm_conformance.selection import Selection
    from lstm_conformance.spec.invariants import by_id
    from lstm_conformance.spec.strategies import DTYPES, in_dtype, rebuild_case

    loaded = Selection([probe["impl"]], probe["exclude"]).load(probe["impl"])
    invariant = by_id(probe["invariant"])
    replay = probe.get("replay")
    if replay is not None:
        case = in_dtype(rebuild_case(replay["case"]), DTYPES[replay["dtype"]])
        extra = replay["extra"]
        extra = tuple(extra) if isinstance(extra, list) else extra
        try:
            invariant.check(loaded.subject, case, *(() if extra is None else (extra,)))
        except Exception as exc:  # it failed without crashing: the crash needs the dtype
            return type(exc).__name__
        return "passed"
    subject = loaded.subject.restricted(frozenset({probe["without"]}))
    probe_settings = settings(without_shrinking(profile_settings(probe["profile"])),
                              database=None)
    return str(run_attempt(subject, invariant, probe_settings, probe["seed"],
                        f"{probe['impl']}:{probe['invariant']}:crash-probe", None).status)


if __name__ == "__main__":
    print(ANSWER + json.dumps({"status": _probe(json.loads(sys.argv[1]))}), flush=True)
