"""Plots for notebooks: where in the key space the differences sit.

matplotlib is imported only when a plot is drawn (it is in the ``notebooks`` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shopmig.verification.api import VerifyResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

KINDS = ("missing", "unexpected", "changed", "expectation_failures")
COLOURS = {"missing": "#cf222e", "unexpected": "#8250df", "changed": "#bf8700",
           "expectation_failures": "#0969da"}


def plot_differences(result: VerifyResult, ax: Axes | None = None, *,
                     max_labels: int = 8) -> Axes:
    """A stacked bar per key segment (in key order) of each kind of difference.

    The x axis is the before table's key space, cut into the segments in ``result.segments``;
    a cluster of bars shows differences that sit together (one damaged batch), a flat spread
    shows damage everywhere. Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3))
    seg = result.segments
    positions = list(range(len(seg)))
    bottom = [0] * len(seg)
    for kind in KINDS:
        values = [int(v) for v in seg[kind]] if len(seg) else []
        ax.bar(positions, values, bottom=bottom, color=COLOURS[kind], width=1.0,
               label=kind.replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    step = max(1, len(seg) // max_labels)
    ticks = positions[::step]
    ax.set_xticks(ticks, [_label(seg["lo"].iloc[i]) for i in ticks], rotation=30, ha="right",
                  fontsize=8)
    ax.set_xlabel(f"key segments of {result.table}.{result.key} (first key shown)")
    ax.set_ylabel("differences")
    ax.set_title(result.summary(), fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    ax.margins(x=0.01)
    return ax


def _label(value: Any) -> str:
    return "(all)" if value is None else str(value)
