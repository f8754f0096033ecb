"""Read a cProfile dump of a conformance run: how much of it ran inside the implementations.

::

    python -m cProfile -o prof.out -m pytest conformance -n 0 --lstm-profile default ...
    python -m benchmarks.profile_share prof.out [--top 10]

``-n 0``: the conformance plugin otherwise runs the checks in a pytest-xdist worker, which
cProfile in the controller does not see.

It prints the profile's total, the cumulative time of the implementations' calls made by
``spec.harness`` (``Subject.call`` -> ``_call`` -> ``Module.__call__``; ``Subject.build``
separately), the self time (tottime) summed by where the code lives, and the top
functions by self time that belong to the suite or to hypothesis. cProfile slows pure
Python far more than native code, so shares from a profile lean towards the suite; the
``benchmarks.time_share`` plugin measures the same split without a profiler.
"""

from __future__ import annotations

import argparse
import pstats
from pathlib import Path

MODULE_CALL = ("_wrapped_call_impl", "_call_impl")
AREAS = (  # first match wins; matched against the file path
    ("implementations (built-ins)", "/implementations/"),
    ("spec (oracle)", "/spec/oracle.py"),
    ("spec (strategies)", "/spec/strategies.py"),
    ("spec (harness, invariants, asserts, ...)", "/spec/"),
    ("conformance (runner, report)", "/conformance/"),
    ("benchmarks (measuring plugin)", "/benchmarks/"),
    ("hypothesis", "/hypothesis/"),
    ("torch", "/torch/"),
    ("numpy", "/numpy/"),
    ("pytest, pluggy, xdist", ("/_pytest/", "/pluggy/", "/xdist/", "/execnet/")),
    ("jinja2", "/jinja2/"),
)
SUITE = ("/spec/", "/conformance/", "/hypothesis/", "/_pytest/", "/pluggy/")

#: Paths under the repository are shown relative to it.
REPO = str(Path(__file__).resolve().parents[1])


def _area(path: str) -> str:
    if path == "~":
        return "builtins (C: torch ops, numpy, ...)"
    for name, marks in AREAS:
        marks = (marks,) if isinstance(marks, str) else marks
        if any(m in path for m in marks):
            return name
    return "other Python (stdlib, ...)"


def _label(func: tuple) -> str:
    path, line, name = func
    for cut in ("/site-packages/", f"{REPO}/"):
        if cut in path:
            path = path.split(cut, 1)[1]
    return f"{path}:{line}({name})"


def analyse(path: str, top: int = 10) -> dict:
    stats = pstats.Stats(path)
    raw = stats.stats  # func -> (cc, nc, tt, ct, callers{caller: (cc, nc, tt, ct)})
    total = stats.total_tt
    forward = forward_calls = build = 0.0
    for func, (_, _, _, _, callers) in raw.items():
        if func[2] in MODULE_CALL:
            for caller, edge in callers.items():
                if caller[0].endswith("spec/harness.py") and caller[2] == "_call":
                    forward += edge[3]
                    forward_calls += edge[1]
        if func[0].endswith("spec/harness.py") and func[2] == "build":
            build += raw[func][3]
    areas: dict[str, float] = {}
    for func, (_, _, tt, _, _) in raw.items():
        area = _area(func[0])
        areas[area] = areas.get(area, 0.0) + tt
    suite = sorted(((tt, nc, ct, func) for func, (_, nc, tt, ct, _) in raw.items()
                    if any(m in func[0] for m in SUITE)), reverse=True)[:top]
    return {
        "total_s": total,
        "forward_s": forward,
        "forward_calls": int(forward_calls),
        "build_s": build,
        "areas": sorted(areas.items(), key=lambda kv: -kv[1]),
        "top_suite": [(_label(f), tt, nc, ct) for tt, nc, ct, f in suite],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    r = analyse(args.profile, args.top)
    total = r["total_s"]
    print(f"profile total                         {total:8.2f} s")
    print(f"implementations' forward (Subject.call) {r['forward_s']:6.2f} s  "
          f"{100 * r['forward_s'] / total:5.1f} %  ({r['forward_calls']} calls)")
    print(f"Subject.build (ctor, load_state_dict)   {r['build_s']:6.2f} s  "
          f"{100 * r['build_s'] / total:5.1f} %")
    print("\nself time (tottime) by area:")
    for name, tt in r["areas"]:
        print(f"  {name:<44}{tt:8.2f} s  {100 * tt / total:5.1f} %")
    print(f"\ntop {args.top} suite/hypothesis/pytest functions by self time:")
    print(f"  {'tottime s':>9} {'calls':>9} {'cumtime s':>9}  function")
    for label, tt, nc, ct in r["top_suite"]:
        print(f"  {tt:9.2f} {nc:9d} {ct:9.2f}  {label}")


if __name__ == "__main__":
    main()
