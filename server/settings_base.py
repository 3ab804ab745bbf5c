"""What every settings section shares: a frozen, strict msgspec Struct, and the check that
turns a bad value into a message naming the field and what was expected."""

from __future__ import annotations

import re
from typing import Final

import msgspec

TENANT_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
OVERRIDE_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}=\d*/\d*")


class Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A settings section: unknown fields are an error."""


def check(ok: bool, field: str, expected: str) -> None:
    """Raise `ValueError` naming ``field`` and what it expects unless ``ok``."""
    # msgspec turns a ValueError raised in __post_init__ into a ValidationError carrying the
    # path, so the loader can name the environment variable.
    if not ok:
        raise ValueError(f"{field}: expected {expected}")
