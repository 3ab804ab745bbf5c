"""What a setting accepts, for the one-line configuration errors (``FRUGAL_X: expected ...``).

msgspec says ``Expected `bool`, got `str``` or ``Invalid enum value 'loud'``; an operator needs
the values that would have worked, read here from the field's type in the settings tree.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import msgspec

from server.settings import Settings

_BOOL = "true or false (also 1 or 0)"
_SCALARS: dict[type, str] = {
    bool: _BOOL,
    int: "a whole number",
    float: "a number",
    str: "text",
}


def accepted_values(section: str, field: str) -> str | None:
    """The values ``section.field`` accepts, in words, or None when the field is unknown or
    its type says nothing useful (nested tables)."""
    annotation = _annotation(section, field)
    return None if annotation is None else _describe(annotation)


def _annotation(section: str, field: str) -> Any:
    for section_info in msgspec.structs.fields(Settings):
        if section_info.name != section:
            continue
        section_type = section_info.type
        if not (isinstance(section_type, type) and issubclass(section_type, msgspec.Struct)):
            return None
        for field_info in msgspec.structs.fields(section_type):
            if field_info.name == field:
                return field_info.type
    return None


def _describe(annotation: Any) -> str | None:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(value) for value in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        described = [_describe(member) for member in members]
        if len(members) != len(typing.get_args(annotation)):
            described.append("empty to unset")
        return " or ".join(d for d in described if d) or None
    if origin is tuple:
        return "a comma-separated list (an array in TOML)"
    return _SCALARS.get(annotation) if isinstance(annotation, type) else None
