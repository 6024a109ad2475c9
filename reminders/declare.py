"""Tables of settings declared once, and the two readers of a declaration.

A key is an annotated class attribute of its table (a Section): its type, its
rules as markers in `Annotated` (Above, AtLeast, Rule, Prepare), and key() with
its default and the line an example file says about it. `read_plain` reads the
usual case (exact types, every rule passing) with nothing but the standard
library; anything it is unsure of it leaves to `read_with_pydantic`, which reads
the same markers, coerces what may be coerced (environment variables are text)
and words the error. The plain reader only ever accepts, never refuses, so what
is accepted and every error are pydantic's.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

if TYPE_CHECKING:
    from pydantic import TypeAdapter

S = typing.TypeVar("S", bound="Section")


# -- rules, as markers both readers understand ------------------------------------


class Above:
    """The number must be greater than `limit`."""

    __slots__ = ("limit",)

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return {**handler(source), "gt": self.limit}


class AtLeast:
    """The number must be `limit` or more."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return {**handler(source), "ge": self.limit}


class Rule:
    """A check run on the typed value: it returns the value, or raises ValueError
    with the sentence to show."""

    __slots__ = ("check",)

    def __init__(self, check: Callable[[Any], Any]) -> None:
        self.check = check

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.check, handler(source))


class Prepare:
    """A conversion run on the raw value before its type is checked."""

    __slots__ = ("convert",)

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        self.convert = convert

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_before_validator_function(
            self.convert, handler(source)
        )


# -- tables and keys --------------------------------------------------------------


class Key:
    """One key of a table: its name, default and the line the example file says
    about it."""

    __slots__ = ("about", "default", "factory", "name")

    def __init__(
        self, default: Any, about: str, factory: Callable[[], Any] | None
    ) -> None:
        self.name = ""
        self.default, self.about, self.factory = default, about, factory

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    def make(self) -> Any:
        """A fresh default value."""
        return self.factory() if self.factory else self.default


def key(
    default: Any = None, about: str = "", *, factory: Callable[[], Any] | None = None
) -> Any:
    """Declare a key: `name: type = key(default, "what it means")`."""
    return Key(default, about, factory)


class Section:
    """A table of settings. Its keys are its annotated class attributes, each
    declared with key(), in the order the file lists them."""

    def __init__(self, **values: Any) -> None:
        for each in keys(type(self)):
            value = values.pop(each.name) if each.name in values else each.make()
            setattr(self, each.name, value)
        if values:
            raise TypeError(f"{type(self).__name__} has no key {sorted(values)[0]!r}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(self) == vars(other)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"{type(self).__name__}({shown})"


def keys(table: type[Any]) -> list[Key]:
    """A table's keys, in order."""
    return [value for value in vars(table).values() if isinstance(value, Key)]


def tables(table: type[Section]) -> dict[str, type[Section]]:
    """The tables within `table`, by key, in order."""
    hints = _hints(table)
    return {
        each.name: hints[each.name]
        for each in keys(table)
        if _is_table(hints[each.name])
    }


def as_dict(table: Section) -> dict[str, Any]:
    """A table's values, tables within it as dicts too, in order."""
    return {
        name: as_dict(value) if isinstance(value, Section) else value
        for name, value in vars(table).items()
    }


# -- the two readers ----------------------------------------------------------------


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    """A table's keys and their types, rules included (evaluated once)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return _HINTS[cls]


class _Unsure(Exception):
    """The plain reader cannot vouch for a value: pydantic decides."""


def read_plain(table: type[S], data: dict[str, Any]) -> S | None:
    """`table` read from `data` when every value has its exact type and passes
    every rule; None when unsure (a wrong type, text to coerce, an unknown key, a
    rule failing), for `read_with_pydantic` to coerce or refuse in its words."""
    try:
        return _table(table, data)  # type: ignore[return-value]
    except _Unsure:
        return None


def read_with_pydantic(table: type[S], data: dict[str, Any]) -> S:
    """Pydantic's reading of the same declaration; its ValidationError when `data`
    holds a bad value."""
    if table not in _ADAPTERS:
        from pydantic import TypeAdapter

        _ADAPTERS[table] = TypeAdapter(_as_dataclass(table))
    read: S = _from_dataclass(table, _ADAPTERS[table].validate_python(data))
    return read


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _as_dataclass(table: type[Section]) -> type[Any]:
    """A standard dataclass with the table's keys, types and defaults (tables
    within it likewise), named alike: what pydantic validates. Unknown keys are
    errors."""
    import dataclasses

    hints, fields = _hints(table), []
    for each in keys(table):
        kind = hints[each.name]
        if _is_table(kind):
            kind = _as_dataclass(kind)
        fields.append((each.name, kind, dataclasses.field(default_factory=each.make)))
    return dataclasses.make_dataclass(
        table.__name__, fields, namespace={"__pydantic_config__": {"extra": "forbid"}}
    )


def _from_dataclass(table: type[Section], value: Any) -> Any:
    hints = _hints(table)
    return table(
        **{
            each.name: _from_dataclass(hints[each.name], getattr(value, each.name))
            if _is_table(hints[each.name])
            else getattr(value, each.name)
            for each in keys(table)
        }
    )


def _is_table(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, Section)


def _table(table: type[Section], data: Any) -> Section:
    if type(data) is not dict:
        raise _Unsure
    hints, known = _hints(table), {each.name for each in keys(table)}
    if not known >= data.keys():
        raise _Unsure
    return table(**{name: _value(hints[name], value) for name, value in data.items()})


def _value(kind: Any, value: Any) -> Any:
    markers: tuple[Any, ...] = ()
    if typing.get_origin(kind) is Annotated:
        kind, *rest = typing.get_args(kind)
        markers = tuple(rest)
    for marker in markers:
        if isinstance(marker, Prepare):
            try:
                value = marker.convert(value)
            except Exception:
                raise _Unsure from None
    value = _typed(kind, value)
    for marker in markers:
        if isinstance(marker, Above) and not value > marker.limit:
            raise _Unsure
        if isinstance(marker, AtLeast) and not value >= marker.limit:
            raise _Unsure
        if isinstance(marker, Rule):
            try:
                value = marker.check(value)
            except Exception:
                raise _Unsure from None
    return value


def _typed(kind: Any, value: Any) -> Any:
    """`value` when it is exactly of type `kind` (an int for a float, made a
    float, as pydantic does); _Unsure otherwise."""
    origin = typing.get_origin(kind)
    if _is_table(kind):
        return _table(kind, value)
    if origin is Literal:
        if any(type(value) is type(c) and value == c for c in typing.get_args(kind)):
            return value
        raise _Unsure
    if origin is list:
        (item,) = typing.get_args(kind)
        if type(value) is not list:
            raise _Unsure
        return [_typed(item, element) for element in value]
    if kind is float and type(value) is int and abs(value) <= 2**53:
        return float(value)
    if kind in (str, bool, int, float) and type(value) is kind:
        return value
    raise _Unsure
