"""Package names imported on first use (PEP 562), so that light imports stay light.

`import streamfit` or `import streamfit.recipe` must not load torch (about
2.5 s): `streamfit train` prepares the data in a child process while the
parent imports torch, and `streamfit --help` answers at once. A package
lists its public names and the module defining each; `lazy_exports` gives
it the `__getattr__` and `__dir__` that import them when first used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any],
                                                                   Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose `exports` load on first use.

    Args:
        package: the package's `__name__`.
        exports: each public name and the module that defines it (absolute);
            a name whose module is `package.name` is that submodule itself.

    Returns:
        `(__getattr__, __dir__)`, to assign in the package's namespace.

    Example (in a package's `__init__.py`):
        >>> __getattr__, __dir__ = lazy_exports(__name__, {"Model": "streamfit.training"})  # doctest: +SKIP
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:  # noqa: N807 (PEP 562's name)
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name])
        value = module if exports[name] == f"{package}.{name}" else getattr(module, name)
        namespace[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
