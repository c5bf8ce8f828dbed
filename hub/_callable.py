"""Let ``hub.train(...)`` and ``hub.export(...)`` work although ``hub.train``/``hub.export`` are packages.

Importing a subpackage rebinds the parent's attribute to the module, which
would shadow the top-level functions of :mod:`hub.api` as soon as anything
imported ``hub.train.api``. Giving those two package modules a ``__call__``
(by their class, the documented way to customise a module) keeps one name
working both as the package and as the function, whichever import came first.
"""

from __future__ import annotations

import sys
import types


def make_callable(module_name: str, function: str) -> None:
    class _CallableModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            from . import api

            return getattr(api, function)(*args, **kwargs)

    _CallableModule.__call__.__doc__ = f"hub.api.{function}: see its docstring."
    sys.modules[module_name].__class__ = _CallableModule
