"""The engine's frozen records to JSON and back, guided by their type hints."""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from datetime import date, datetime
from enum import Enum


def dumps(value: object) -> str:
    return json.dumps(_plain(value), separators=(",", ":"))


def loads(kind: type, text: str):
    return _build(kind, json.loads(text))


def _plain(value):
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _build(kind, data):
    if data is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        inner = [k for k in typing.get_args(kind) if k is not type(None)]
        return _build(inner[0], data)
    if origin is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in data)
        return tuple(_build(k, v) for k, v in zip(args, data, strict=False))
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return kind(**{name: _build(hint, data[name]) for name, hint in _fields(kind) if name in data})
    if kind is datetime:
        return datetime.fromisoformat(data)
    if kind is date:
        return date.fromisoformat(data)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(data)
    return data


@functools.cache
def _fields(kind: type) -> tuple[tuple[str, object], ...]:
    """A record's fields with their resolved types (resolving them is slow; the types never change)."""
    hints = typing.get_type_hints(kind)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(kind))
