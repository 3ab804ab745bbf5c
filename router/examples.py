"""Labelled example queries for `router.embedding.EmbeddingRouter`, and their loader."""

from __future__ import annotations

from pathlib import Path

import msgspec

from router.base import Tier

EXAMPLES_PATH = Path(__file__).parent / "data" / "route_examples.jsonl"
"""The shipped examples: customer-support (cheap) and developer-API (strong) queries."""


class RouteExample(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One query and the tier that should answer it."""

    text: str
    tier: Tier


def load_examples(path: Path | str | None = None) -> list[RouteExample]:
    """Read a JSON-lines file of ``{"text": ..., "tier": "cheap" | "strong"}``, blank lines skipped.

    Defaults to the shipped `EXAMPLES_PATH`. Raises `ValueError` naming the line on a bad record
    and `OSError` when the file cannot be read.
    """
    source = Path(path) if path is not None else EXAMPLES_PATH
    decoder = msgspec.json.Decoder(RouteExample)
    examples: list[RouteExample] = []
    with source.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                example = decoder.decode(line)
            except msgspec.DecodeError as exc:
                raise ValueError(f"{source}:{number}: {exc}") from exc
            if not example.text.strip():
                raise ValueError(f"{source}:{number}: empty text")
            examples.append(example)
    return examples
