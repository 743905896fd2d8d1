"""Verify data before vs after a migration.

- :mod:`shopmig.verification.api`: :func:`verify`, :func:`snapshot` and :class:`VerifyResult`.
- :mod:`shopmig.verification.engines`: how candidates are found at scale (server checksums,
  a SQLite join, a streamed merge), never loading whole tables.
- :mod:`shopmig.verification.plots`: where in the key space the differences sit.
"""

from shopmig._lazy import attach

_EXPORTS = {
    "VerifyResult": "shopmig.verification.api",
    "snapshot": "shopmig.verification.api",
    "verify": "shopmig.verification.api",
    "plot_differences": "shopmig.verification.plots",
}

__getattr__, __dir__ = attach(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
