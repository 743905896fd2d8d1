"""Rehearse the migration on a copy under a synthetic shop workload, and report it.

- :mod:`shopmig.rehearsal.run`: :func:`rehearse` and its result.
- :mod:`shopmig.rehearsal.workload`: the background writer.
- :mod:`shopmig.rehearsal.report`: the self-contained HTML report and latency plot.
- :mod:`shopmig.rehearsal.naive`: the naive paths, run side by side with the safe ones.
"""

from shopmig._lazy import attach

_EXPORTS = {
    "Rehearsal": "shopmig.rehearsal.run",
    "RehearsedStep": "shopmig.rehearsal.run",
    "rehearse": "shopmig.rehearsal.run",
    "ShopWorkload": "shopmig.rehearsal.workload",
    "WriteEvent": "shopmig.rehearsal.workload",
    "plot_latency": "shopmig.rehearsal.report",
}

__getattr__, __dir__ = attach(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
