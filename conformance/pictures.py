"""Pictures for the report, where a person would rather look than read numbers.

* ``heat_maps``: for a failed tensor comparison, expected, actual and |diff| side by side
  (time x feature, or row x feature, at the batch column of the worst element);
* ``permutation``: in words, when actual rows or batch columns are expected ones in
  another order ("actual row 2 equals expected row 1");
* ``ratio_plot``: per implementation, how close each invariant's comparisons came to
  their limit (observed error / allowed error, every example).

Each picture is a PNG drawn by matplotlib (Agg, no display) and returned as a ``data:``
URI, so the report stays one self-contained file.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _slice(failure: dict) -> tuple[np.ndarray, np.ndarray, str, str] | None:
    """Expected and actual as 2-D arrays, with axis names, at the worst element's batch."""
    tensors = failure.get("tensors") or {}
    if "expected" not in tensors:
        return None
    expected, actual = np.asarray(tensors["expected"]), np.asarray(tensors["actual"])
    dims = tensors.get("dims") or [f"dim {i}" for i in range(expected.ndim)]
    index = (failure.get("counterexample") or {}).get("index") or [0] * expected.ndim
    if expected.ndim == 3:  # (t or row, batch, feature): the worst element's batch column
        b = index[1] if len(index) > 1 else 0
        return expected[:, b, :], actual[:, b, :], dims[0], f"{dims[2]} (batch {b})"
    if expected.ndim == 2:
        return expected, actual, dims[0], dims[1]
    if expected.ndim == 1:
        return expected[None, :], actual[None, :], "", dims[0]
    return None


def heat_maps(failure: dict) -> str | None:
    """Expected, actual and |diff| of a failed comparison, or None without tensors."""
    sliced = _slice(failure)
    if sliced is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    expected, actual, rows, columns = sliced
    diff = np.abs(actual - expected)
    low = float(min(np.nanmin(expected), np.nanmin(actual)))
    high = float(max(np.nanmax(expected), np.nanmax(actual)))
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(1, 3, figsize=(10, 2.8), layout="constrained")
    images = []
    for ax, data, title, cmap, limits in (
            (axes[0], expected, "expected", "coolwarm", (low, high)),
            (axes[1], actual, "actual", "coolwarm", (low, high)),
            (axes[2], diff, "|actual - expected|", "magma", (0, float(np.nanmax(diff)) or 1))):
        images.append(ax.imshow(data, aspect="auto", cmap=cmap, vmin=limits[0],
                                vmax=limits[1], interpolation="nearest"))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(columns, fontsize=8)
        ax.set_ylabel(rows, fontsize=8)
        ax.tick_params(labelsize=7)
        for axis in (ax.xaxis, ax.yaxis):  # index axes: whole numbers only
            axis.set_major_locator(MaxNLocator(integer=True))
    # one colour bar for expected and actual (they share a scale), one for the difference
    for image, owners in ((images[0], axes[:2]), (images[2], axes[2])):
        bar = figure.colorbar(image, ax=owners, shrink=0.9, format="%.3g")
        bar.ax.tick_params(labelsize=7)
        bar.ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    return _png(figure)


def permutation(failure: dict) -> str | None:
    """Rows (first dimension) or batch columns of actual that equal other expected ones."""
    tensors = failure.get("tensors") or {}
    if "expected" not in tensors:
        return None
    expected, actual = np.asarray(tensors["expected"]), np.asarray(tensors["actual"])
    dims = tensors.get("dims") or [f"dim {i}" for i in range(expected.ndim)]
    scale = max(1e-12, float(np.nanmax(np.abs(expected))) if expected.size else 1.0)
    said = []
    for axis in range(min(2, expected.ndim)):
        n = expected.shape[axis]
        if n < 2:
            continue
        e, a = np.moveaxis(expected, axis, 0), np.moveaxis(actual, axis, 0)
        for i in range(n):
            if np.allclose(a[i], e[i], rtol=1e-3, atol=1e-6 * scale):
                continue
            same = [j for j in range(n) if j != i
                    and np.allclose(a[i], e[j], rtol=1e-3, atol=1e-6 * scale)]
            if same:
                said.append(f"actual {dims[axis]} {i} equals expected {dims[axis]} {same[0]}")
    return "; ".join(said[:6]) or None


def ratio_plot(name: str, results: dict) -> str | None:
    """For one implementation: each invariant's observed / allowed error, every example,
    on a log scale, with the limit (1) marked."""
    rows = [(inv, r.get("ratios") or []) for inv, r in results.items() if r.get("ratios")]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 0.28 * len(rows) + 1.1))
    for y, (_, ratios) in enumerate(rows):
        values = np.clip(np.asarray(ratios, dtype=float), 1e-6, None)
        jitter = (np.arange(len(values)) % 5 - 2) * 0.06
        over = values > 1
        ax.scatter(values[~over], y + jitter[~over], s=6, color="#3b6ea5", alpha=0.6)
        ax.scatter(values[over], y + jitter[over], s=10, color="#c0392b")
    ax.axvline(1.0, color="#c0392b", linewidth=1)
    ax.set_xscale("log")
    right = max(10.0, max(max(r) for _, r in rows) * 2)
    ax.set_xlim(1e-6, right)
    # Decade ticks labelled in plain text: matplotlib's default log labels are mathtext,
    # whose parsing was most of the time of drawing this plot.
    decades = range(-6, math.ceil(math.log10(right)) + 1, 2)
    ax.set_xticks([10.0**d for d in decades], [f"1e{d}" if d else "1" for d in decades])
    ax.minorticks_off()
    ax.set_yticks(range(len(rows)), [inv for inv, _ in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("observed error / allowed error (each example; 1 is the limit)", fontsize=8)
    ax.set_title(name, fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    return _png(figure)
