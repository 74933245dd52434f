"""A small name -> constructor registry shared by models, losses and datasets.

One door in per kind of object (``models.create``, ``losses.create``), in the spirit of timm's
``create_model``: configs name things, and the registry turns names into objects.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, Literal


class Registry:
    """Maps names to constructors; ``create(name, **kw)`` builds one."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering ``fn`` under ``name`` (default: the function's name)."""

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            key = name or fn.__name__
            if key in self._entries and self._entries[key] is not fn:
                raise KeyError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = fn
            return fn

        return deco

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(
                f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self.names())})"
            ) from None

    def create(self, name: str, **kwargs: Any) -> Any:
        return self.get(name)(**kwargs)

    def check_options(self, name: str, options: dict[str, Any]) -> None:
        """Raise ``ValueError`` (one line) when ``options`` cannot be passed to ``name``.

        Checked before anything is built, so that a misspelled option or a value of the wrong
        type is reported by name instead of failing somewhere inside the network or loss:
        every key must be a keyword parameter of the constructor (unless it takes
        ``**kwargs``), and a parameter annotated with a plain type (``float``, ``int``,
        ``bool``, ``str``, a ``Literal``, or one of these ``| None``) must get such a value.
        Numbers written as strings (YAML reads ``1e-3`` as one) pass where a number is due.
        """
        problem = option_problem(self.get(name), options)
        if problem:
            raise ValueError(f"{self.kind} {name!r}: {problem}")

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def _signature_target(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn.__init__ if inspect.isclass(fn) else fn  # type: ignore[misc]


def option_problem(fn: Callable[..., Any], options: dict[str, Any]) -> str | None:
    """Why ``fn(**options)`` would be a wrong call (see :meth:`Registry.check_options`), or None."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature: nothing to check
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    named = {k: p for k, p in params.items()
             if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)}
    for key in options:
        if key not in named:
            close = difflib.get_close_matches(key, named, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return f"unknown option {key!r}{hint} (options: {', '.join(named) or 'none'})"
    try:
        hints = typing.get_type_hints(_signature_target(fn))
    except Exception:  # noqa: BLE001 - unresolvable annotations: skip the type check
        hints = {}
    for key, value in options.items():
        expected = _plain_type(hints.get(key))
        if expected is not None and not _matches(value, expected):
            return f"option {key!r} must be {_describe(expected)}, got {value!r}"
    return None


_PLAIN = (float, int, bool, str)


def _plain_type(hint: Any) -> tuple | None:
    """The accepted kinds of a plainly typed parameter, as a tuple of types / Literal values."""
    if hint is None:
        return None
    if hint in _PLAIN:
        return (hint,)
    origin = typing.get_origin(hint)
    if origin is Literal:
        return (Literal, *typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            inner = _plain_type(args[0])
            return None if inner is None else (*inner, type(None))
        if all(a in _PLAIN for a in args):
            return (*args, type(None)) if len(args) < len(typing.get_args(hint)) else tuple(args)
    return None


def _is_number_text(value: Any) -> bool:
    try:
        float(value)
        return isinstance(value, str)
    except ValueError:
        return False


def _matches(value: Any, expected: tuple) -> bool:
    if value is None:
        return type(None) in expected
    if expected[0] is Literal:
        return value in expected[1:]
    for t in expected:
        if t is bool and isinstance(value, bool):
            return True
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t is float and (isinstance(value, int | float) and not isinstance(value, bool) or _is_number_text(value)):
            return True
        if t is str and isinstance(value, str):
            return True
    return False


def _describe(expected: tuple) -> str:
    if expected[0] is Literal:
        return "one of " + ", ".join(repr(v) for v in expected[1:] if v is not type(None))
    names = {float: "a number", int: "an integer", bool: "true or false", str: "a string", type(None): "null"}
    return " or ".join(names[t] for t in expected)
