"""Collecting outcomes into the ``results.json`` document (schema 1; the full description
is ``docs/results.schema.json``).

``Collector`` is fed one record per (implementation, invariant) check as reports arrive
(from this process, or from pytest-xdist workers), and by load failures; ``document()``
builds the results dict with each implementation's verdict, level and root causes.
"""

from __future__ import annotations

import platform
import re
import shlex
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

import hypothesis
import numpy
import pytest
import torch

from lstm_conformance import hints
from lstm_conformance.hints import _mapping
from lstm_conformance.spec.capabilities import BEYOND_CORE, REPLAYED, describe_condition
from lstm_conformance.spec.invariants import INVARIANTS, by_id
from lstm_conformance.spec.vocabulary import Level, Status

SCHEMA = 1


def versions() -> dict:
    try:
        own = version("lstm-conformance")
    except PackageNotFoundError:
        own = None
    return {"python": platform.python_version(), "torch": torch.__version__,
            "hypothesis": hypothesis.__version__, "numpy": numpy.__version__,
            "pytest": pytest.__version__, "lstm_conformance": own}


def _bad(entry: dict) -> list[dict]:
    return [r for r in entry["results"].values() if Status(r["status"]).is_bad]


#: Statuses of a check that ran (gave a verdict of its own on the implementation).
RAN = (Status.PASSED, Status.FAILED, Status.ERROR, Status.KNOWN_FAILURE,
       Status.UNEXPECTEDLY_PASSED)


def not_checked_reason(entry: dict, keyword: str | None = None) -> str | None:
    """Why nothing was checked for an implementation that loaded, or None when something
    was: no check was selected (``-k`` matched none of its checks), or every selected check
    was not applicable."""
    if entry.get("load_error") or any(r["status"] in RAN for r in entry["results"].values()):
        return None
    if not entry["results"]:
        return (f"no check ran: -k {keyword!r} matched none of its checks" if keyword
                else "no check ran for it")
    return (f"no check ran: every selected check ({len(entry['results'])}) was not applicable "
            "(capabilities declared unsupported or left out)")


def verdict(entry: dict, keyword: str | None = None) -> str:
    """``broken``: it could not be loaded; ``not-checked``: no check ran for it;
    ``non-conformant``: a check failed or erred (declared known failures do not count);
    else ``conformant``."""
    if entry.get("load_error"):
        return "broken"
    if not_checked_reason(entry, keyword):
        return "not-checked"
    return "non-conformant" if _bad(entry) else "conformant"


#: What the basic LSTM (one unidirectional layer on dense float32 input) does not need: a
#: failure that happens only in cases with one of these does not take the level below core.
NOT_BASIC = BEYOND_CORE | {"float64", "float16", "bfloat16"}


def _confined(result: dict) -> bool:
    """Whether every failure of a check needs a feature the basic LSTM does not (by its
    condition), and the rest of the check passed without those features."""
    failures = [f for f in result.get("failures") or [] if Status(f["status"]).is_bad]
    if not failures or result.get("rest_status") not in (Status.PASSED, Status.NOT_APPLICABLE):
        return False
    return all((f.get("condition") or {}).get("features") is not None
               and set(f["condition"]["features"]) & NOT_BASIC for f in failures)


#: The device contract's checks: not applicable on the CPU because of where the run was
#: made (``--lstm-device cpu``), not because of anything the implementation lacks, so they
#: take nothing from its level there.
DEVICE_CONTRACT = frozenset(inv.id for inv in INVARIANTS if inv.chapter == "device")


def level(entry: dict) -> Level | None:
    """``full``: conformant, nothing declared missing, known to fail or found not applicable
    (the device contract's checks on the CPU aside);
    ``partial``: conformant within the capabilities and known failures it declares;
    ``approximate``: conformant within a tolerance it declares itself; ``core``: not
    conformant, but every check that failed passes on core cases (one unidirectional
    layer, dense input), or fails only when a feature the basic LSTM does not need is used
    (``NOT_BASIC``: float64 or another dtype than float32, packed input, projections, ...);
    else None (broken, not checked, or wrong even on core cases)."""
    if entry["verdict"] in ("broken", "not-checked"):
        return None
    if entry["verdict"] == "non-conformant":
        core_ok = all(r.get("core_status") in (Status.PASSED, Status.NOT_APPLICABLE)
                      or _confined(r) for r in _bad(entry))
        return Level.CORE if core_ok else None
    if entry.get("declared_tolerance"):
        return Level.APPROXIMATE
    gaps = entry.get("unsupported") or any(
        r["status"] in (Status.NOT_APPLICABLE, Status.KNOWN_FAILURE)
        or r.get("not_applicable_examples") for invariant_id, r in entry["results"].items()
        if not (invariant_id in DEVICE_CONTRACT and r["status"] == Status.NOT_APPLICABLE))
    return Level.PARTIAL if gaps else Level.FULL


def _signature(failure: dict) -> tuple | None:
    """The same wrong values: the expected and actual numbers a failed comparison reports
    at its worst element, to 6 significant digits (two checks that shrink to the same case
    and read the same wrong tensor report the same pair). Pairs of round numbers (0, 1,
    0.5) say nothing and give no signature."""
    found = _mapping(failure.get("counterexample"))
    expected, actual = found.get("expected"), found.get("actual")
    if failure.get("status") != Status.FAILED or not isinstance(expected, (int, float)) \
            or not isinstance(actual, (int, float)):
        pass
    else:
        pair = (f"{expected:.6g}", f"{actual:.6g}")
        if all(len(re.sub(r"[^0-9]", "", v).strip("0")) >= 4 for v in pair):
            return pair
    return None


def _error_key(failure: dict) -> tuple | None:
    """An error's kind and the words of its message's first line, all of them (numbers and
    the case a crash was running left out): two errors whose long messages differ only
    at the end are two errors. A check that fails because the implementation raised where
    nn.LSTM answers (an empty batch) keeps that error (``counterexample["raised"]``): the
    same error as in other checks."""
    kind, message = failure.get("kind"), failure.get("message")
    if failure.get("status") != Status.ERROR:
        raised = _mapping(_mapping(failure.get("counterexample")).get("raised"))
        if not raised.get("kind"):
            return None
        kind, message = raised["kind"], raised.get("message")
    first = str(message).splitlines()[0] if message else ""
    first = re.sub(r" \(while running [^()]*\)$", "", first)
    return kind, re.sub(r"[0-9.e+-]+", "#", first)


#: Capabilities a check's ``requires`` may name that are features of its cases: a check
#: that needs one fails only with it, whatever condition its search found.
CASE_FEATURES = frozenset({"multi_layer", "bidirectional", "proj_size", "batch_first",
                           "unbatched", "packed", "dropout", "no_bias"})
#: Capabilities a check may require to make its calls, not to draw its cases:
#: state-continuation, hx-none-is-zeros, input validation and the gradient checks always
#: pass an (h0, c0). Their search cannot leave it out, so the conditions they find neither
#: hold it nor exclude it: such a failure may be one with others that need it.
CALL_FEATURES = frozenset({"initial_state"})


def _condition(invariant_id: str, failure: dict) -> frozenset[str] | None:
    """The features a failure needs: its condition's, and the case features its check
    requires (first-step-backward fails "on every kind of case tried", all of them
    bidirectional). None when no condition was searched for."""
    condition = failure.get("condition")
    if not isinstance(condition, dict) or condition.get("features") is None:
        return None
    return frozenset(condition["features"]) | (_requires(invariant_id) & CASE_FEATURES)


def _requires(invariant_id: str) -> frozenset[str]:
    try:
        return frozenset(by_id(invariant_id).requires)
    except KeyError:
        return frozenset()


def _possible(invariant_id: str, failure: dict) -> frozenset[str] | None:
    """The most a failure's condition may be: its condition with the features its check
    always calls with (``CALL_FEATURES``). Failures are grouped by this."""
    condition = _condition(invariant_id, failure)
    return None if condition is None else condition | (_requires(invariant_id) & CALL_FEATURES)


def _widest(members: list[tuple[str, dict]]) -> frozenset[str] | None:
    """The condition of a group: the smallest that two of its checks support (of those, the one
    most support), or else its smallest; None when none was searched for. The candidates are
    the conditions found by checks whose search could leave out everything they call with; a
    check that always passes a state supports the condition it found and that condition with
    the state (it could not tell: its "when proj_size > 0" may be "when an explicit (h0, c0)
    and proj_size > 0"). Only when every check always passes one are theirs the candidates.
    One check alone may be wrong either way: output-shapes calls every form on one case, so
    its replay without packed input may fail in another way and find nothing, and a probe
    that misses a rare failure finds a feature it does not need. Where the candidates with a
    replayed word (``REPLAYED``) share one, their common part is the condition: one code
    path, met with several features."""
    found = [(_condition(i, f), _requires(i) & CALL_FEATURES, i) for i, f in members]
    found = [(c, passed, i) for c, passed, i in found if c is not None]
    if not found:
        return None
    candidates = {c for c, passed, _ in found if not passed} or {c for c, _, _ in found}
    support: dict[frozenset[str], set[str]] = {}
    for condition, passed, invariant_id in found:
        for supported in {condition, condition | passed} & candidates:
            support.setdefault(supported, set()).add(invariant_id)
    agreed = [c for c, checks in support.items() if len(checks) >= 2] or list(candidates)
    # a replayed condition is a deterministic replay's answer where other checks could not
    # ask (a state machine, a check that always passes a state), and it names the code
    # path: the group's condition is what those conditions have in common
    replayed = [c for c in candidates if c & REPLAYED.keys()]
    common = frozenset.intersection(*replayed) if replayed else frozenset()
    if common & REPLAYED.keys():
        return common
    return min(agreed, key=lambda c: (len(c), -len(support.get(c, ())), sorted(c)))


def _groups(entry: dict) -> list[list[tuple[str, dict]]]:
    """The failures of an implementation, grouped into root causes. Two failures are one
    cause when they fail the same way (status, kind) under the same condition, report the
    same wrong values (``_signature``), raise the same error, fail with the same status
    under the same non-empty condition (with what their checks require), or fail only
    under the same replayed condition (``REPLAYED``: without a state, dropout in eval). Then a group
    whose condition strictly contains another's joins it when both fail the same way (one
    condition under which many checks fail, some only with more features), or when it
    only raises and the other gives wrong results (one defect, loud where it breaks shapes
    and quiet elsewhere). A group under a condition of its own, that holds no other
    group's, stays a cause of its own (projections unsupported beside packed lengths
    ignored); so does one beside a group that fails on every kind of case tried."""
    items = [(i, f) for i, r in entry["results"].items() if Status(r["status"]).is_bad
             for f in r.get("failures") or [r]]  # a result without failures: its own fields
    parent = list(range(len(items)))

    def find(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def join(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    # what each failure says of h_n and c_n (a case rebuilt, the oracle run): once
    swapped = [hints.states_swapped(failure) for _, failure in items]
    first: dict[tuple, int] = {}
    for n, (invariant_id, failure) in enumerate(items):
        text = _mapping(failure.get("condition")).get("text") or ""
        keys = [("kind", failure["status"], failure.get("kind"), text),
                ("values", _signature(failure)), ("error", _error_key(failure))]
        # one condition under which checks fail alike; "on every kind of case tried" too,
        # for wrong results (errors join by their message instead). A check that always
        # passes a state may fail under its condition with or without it.
        for condition in {_condition(invariant_id, failure), _possible(invariant_id, failure)}:
            if condition is not None and (condition or failure["status"] == Status.FAILED):
                keys.append(("condition", failure["status"], condition))
        # failing only without a state (or only with dropout in eval mode), whatever else
        # the case has and however it fails: one code path, the implementation's own
        # default state (its dropout's training flag)
        keys += [("replayed", word) for word in
                 sorted((_condition(invariant_id, failure) or set()) & REPLAYED.keys())]
        # h_n that is c_n, by its shape or its values: the final states returned swapped
        if swapped[n]:
            keys.append(("swapped", "states"))
        for key in keys:
            if key[1] is None:
                continue
            if key in first:
                join(n, first[key])
            else:
                first[key] = n
    groups: dict[int, list[int]] = {}
    for n in range(len(items)):
        groups.setdefault(find(n), []).append(n)

    described = {root: (_widest([items[n] for n in members]),
                        {items[n][1]["status"] for n in members})
                 for root, members in groups.items()}
    raising = {root for root, members in groups.items()
               if all(_error_key(items[n][1]) for n in members)}
    for root, (cond, statuses) in described.items():
        if not cond:
            continue
        if root in raising:
            # an error only where wrong results are met with more features: the same
            # defect, loud where it breaks shapes (h0 and c0 swapped raise with
            # projections, where their sizes differ, and give wrong values elsewhere)
            quiet = [other for other, (o_cond, o_statuses) in described.items()
                     if other not in raising and Status.FAILED in o_statuses
                     and o_cond and o_cond < cond]
            if quiet:
                join(root, max(quiet, key=lambda o: (len(described[o][0]),
                                                     len(groups[o]))))
            continue
        # failing only where another group fails the same way with fewer features: every
        # failing case of this group has that group's defect, and nothing in the evidence
        # says it is another one
        wider = [other for other, (o_cond, o_statuses) in described.items()
                 if other != root and o_cond and o_cond < cond and o_statuses == statuses]
        if wider:
            join(root, min(wider, key=lambda o: len(described[o][0])))
    _join_what_swapped_states_explain(items, swapped, find, join)
    merged: dict[int, list[tuple[str, dict]]] = {}
    for n, item in enumerate(items):
        merged.setdefault(find(n), []).append(item)
    return list(merged.values())


def _reads_a_state(failure: dict) -> bool:
    """Whether a failed comparison reads h_n or c_n (a wrong value of one of them)."""
    found = _mapping(failure.get("counterexample"))
    quantity = str(found.get("quantity") or failure.get("message") or "")
    return failure.get("status") == Status.FAILED and (
        found.get("tensor") in ("h_n", "c_n") or quantity.startswith(("h_n", "c_n")))


def _join_what_swapped_states_explain(items: list[tuple[str, dict]], swapped: list[list[str]],
                                      find, join) -> None:
    """A group whose h_n equals the oracle's c_n (``swapped``: ``hints.states_swapped`` of each
    item, by values: the final states swapped, not only c_n wrong) takes every group of
    wrong values all of which read h_n or c_n: the swap explains them (h_n compared with the
    output's last step in training, where the oracle cannot follow the dropout masks)."""
    h_n_is_c_n = hints.SWAPPED_VALUES.format("h_n", "c_n")
    proof = {find(n) for n, said in enumerate(swapped) if h_n_is_c_n in said}
    if not proof:
        return
    target = min(proof)
    for root in proof:
        join(root, target)
    groups: dict[int, list[int]] = {}
    for n in range(len(items)):
        groups.setdefault(find(n), []).append(n)
    for root, members in groups.items():
        if root != find(target) and all(_reads_a_state(items[n][1]) for n in members):
            join(root, target)


def root_causes(entry: dict) -> list[dict]:
    """Failures of several checks grouped into what the evidence says is one defect (see
    ``_groups``), largest group first, each with the likely cause the evidence supports
    (``conformance.hints``; null when no rule fits) and the evidence itself: one bug reads
    as one cause with the checks it broke, not as many identical failures."""
    order = [i.id for i in INVARIANTS]
    position = {i: n for n, i in enumerate(order)}
    checked = hints.checked_names(entry)
    groups = _groups(entry)
    whole = hints.evidence_of([m for members in groups for m in members], rebuild=False)
    everything = set(whole.names) | ({"near-miss"} if whole.near_miss else set())
    causes = []
    for members in groups:
        checks = sorted({i for i, _ in members}, key=lambda i: position.get(i, len(order)))
        # the message shown: a reference comparison's when there is one (it says what is
        # wrong, not only that two runs differ), else the first check's
        shown = min(members, key=lambda m: (
            _mapping(m[1].get("counterexample")).get("check") not in hints.REFERENCE,
            position.get(m[0], len(order))))[1]
        widest = _widest(members)
        condition = None if widest is None else describe_condition(widest)
        statuses = {f["status"] for _, f in members}
        kinds = {f.get("kind") for _, f in members}
        ev = hints.evidence_of(members)
        ev.everywhere_near = whole.near_miss
        if widest is not None:  # the group's condition, as the report states it, over
            ev.condition = sorted(widest)  # any one member's ("every kind" included)
        n = len(checks)
        headline = f"{n} check{'s' if n > 1 else ''}"
        if condition:
            headline += f" {'fail' if n > 1 else 'fails'} {condition}"
        headline += f": {shown.get('message') or ''}"
        causes.append({
            "status": shown["status"] if len(statuses) > 1 else statuses.pop(),
            "kind": kinds.pop() if len(kinds) == 1 else shown.get("kind"),
            "condition": condition, "message": shown.get("message") or "", "checks": checks,
            "headline": headline,
            "likely_cause": hints.likely_cause(ev, checked, everything),
            "evidence": ev.as_dict(),
        })
    return sorted(causes, key=lambda c: -len(c["checks"]))


def headline(entry: dict) -> str | None:
    """One line for an implementation that cannot run at all: nothing passed, at least
    ``CANNOT_RUN_CHECKS`` checks ran, and every one failed the same way on every kind of
    case tried."""
    causes = entry.get("root_causes") or []
    ran = [r for r in entry["results"].values() if r["status"] in RAN]
    if len(causes) != 1 or len(ran) < CANNOT_RUN_CHECKS \
            or any(r["status"] == Status.PASSED for r in ran):
        return None
    cause = causes[0]
    if cause["condition"] and cause["condition"] != "on every kind of case tried":
        return None
    return (f"Cannot run its simplest case: all {len(cause['checks'])} checks that ran "
            f"{'erred' if cause['status'] == Status.ERROR else 'failed'} with: "
            f"{cause['message']}")


#: "Cannot run its simplest case" needs this many checks to have run (one check failing
#: says only that this check fails); the likely cause "a kind of call it cannot run" the same.
CANNOT_RUN_CHECKS = hints.CANNOT_RUN_CHECKS


class Collector:
    def __init__(self, profile: str, seed: int | None, selection: dict, args: list[str], *,
                 device: str = "cpu", precision: dict | None = None) -> None:
        self.started = datetime.now(UTC)
        self.device, self.precision = device, precision
        self.profile, self.seed, self.selection = profile, seed, selection
        self.command = "pytest " + " ".join(shlex.quote(a) for a in args)
        self.implementations: dict[str, dict] = {}

    def implementation(self, name: str, **info) -> dict:
        entry = self.implementations.setdefault(
            name, {"verdict": None, "load_error": None, "results": {}})
        entry.update(info)
        return entry

    def record(self, impl: str, invariant_id: str, outcome: dict) -> None:
        self.implementation(impl)["results"][invariant_id] = outcome

    def document(self) -> dict:
        order = {inv.id: n for n, inv in enumerate(INVARIANTS)}
        keyword = self.selection.get("keyword")
        for entry in self.implementations.values():
            entry["results"] = dict(sorted(entry["results"].items(),
                                           key=lambda kv: order.get(kv[0], len(order))))
            entry["verdict"] = verdict(entry, keyword)
            entry["reason"] = not_checked_reason(entry, keyword)
            entry["level"] = level(entry)
            entry["root_causes"] = root_causes(entry)
            entry["headline"] = headline(entry)
            entry["warnings"] = sorted({w for r in entry["results"].values()
                                        for w in r.get("warnings") or []})
        partial = bool(self.selection.get("keyword"))
        return {
            "schema": SCHEMA,
            "run": {
                "profile": self.profile, "seed": self.seed,
                "started": self.started.isoformat(timespec="seconds"),
                "duration_s": round((datetime.now(UTC) - self.started)
                                    .total_seconds(), 2),
                "versions": versions(), "platform": platform.platform(),
                "command": self.command, "selection": self.selection, "partial": partial,
                "device": self.device, "precision": self.precision,
            },
            "invariants": [inv.describe() for inv in INVARIANTS],
            "implementations": dict(sorted(self.implementations.items())),
        }
