"""PEP 562 lazy attributes: a package names what it exports and where it lives, and the module
behind a name is imported the first time the name is used (``import shopmig`` stays cheap)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def attach(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps each public name to the
    module that defines it (``"verify": "shopmig.verification.api"``). A name mapped to a module
    path ending in ``:module`` is that module itself
    (``"exercises": "shopmig.teach.exercises:module"``).
    """

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if where.endswith(":module"):
            value = importlib.import_module(where.removesuffix(":module"))
        else:
            value = getattr(importlib.import_module(where), name)
        globals_of(package)[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals_of(package)) | set(exports))

    return __getattr__, __dir__


def globals_of(package: str) -> dict[str, Any]:
    """The namespace of the (already imported) module ``package``."""
    import sys

    return vars(sys.modules[package])
