"""Offline token counting with tiktoken's official encodings, committed under ``agent/data``.

tiktoken would normally download its ``.tiktoken`` files; we ship them, check their sha256 at
load, and build the `tiktoken.Encoding` ourselves so no code path can reach the network.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path

import tiktoken

from agent.types import Message

DATA_DIR = Path(__file__).parent / "data" / "tiktoken"

_ENDOFTEXT = "<|endoftext|>"
_ENDOFPROMPT = "<|endofprompt|>"

# Facts about the two encodings, as published by OpenAI (tiktoken_ext.openai_public).
_SPECS: dict[str, tuple[str, str, dict[str, int]]] = {
    "cl100k_base": (
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
        r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        {
            _ENDOFTEXT: 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
    "o200k_base": (
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
}

# Models on the newer encoding; everything else (claude-*, unknown names) is counted with
# cl100k_base, which is close enough for budgets and estimates.
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")

# Chat framing overhead, as documented in OpenAI's cookbook for current chat models.
TOKENS_PER_MESSAGE = 3
REPLY_PRIMER_TOKENS = 3

_load_lock = threading.Lock()


class EncodingIntegrityError(RuntimeError):
    """A bundled encoding file is missing or its sha256 differs from the official one."""


@lru_cache(maxsize=256)
def encoding_name_for_model(model: str) -> str:
    """``o200k_base`` for gpt-4o*, gpt-4.1*, gpt-5* and o-series models, else ``cl100k_base``."""
    name = model.lower().rsplit("/", 1)[-1]
    return "o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base"


@cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """Load (once) and return a bundled encoding, verifying its hash."""
    if name not in _SPECS:
        raise KeyError(f"unknown encoding {name!r}; bundled: {sorted(_SPECS)}")
    expected_sha256, pat_str, special_tokens = _SPECS[name]
    with _load_lock:
        path = DATA_DIR / f"{name}.tiktoken"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EncodingIntegrityError(f"cannot read bundled encoding {path}") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected_sha256:
            raise EncodingIntegrityError(f"{path} has sha256 {digest}, expected {expected_sha256}")
        ranks = {
            base64.b64decode(token): int(rank)
            for token, rank in (line.split() for line in data.splitlines() if line)
        }
        return tiktoken.Encoding(
            name=name, pat_str=pat_str, mergeable_ranks=ranks, special_tokens=special_tokens
        )


def encoding_for_model(model: str) -> tiktoken.Encoding:
    """The encoding used to count ``model``'s tokens."""
    return get_encoding(encoding_name_for_model(model))


# Texts up to this long are remembered: questions come back (that is what a cache hit is),
# and role names and the system prompt repeat on every request. Bounded in entries and size.
_MEMO_MAX_CHARS = 4_000
_MEMO_ENTRIES = 2_048


@lru_cache(maxsize=_MEMO_ENTRIES)
def _remembered_count(encoding: str, text: str) -> int:
    return len(get_encoding(encoding).encode_ordinary(text))


def _count(encoding: str, text: str) -> int:
    if len(text) <= _MEMO_MAX_CHARS:
        return _remembered_count(encoding, text)
    return len(get_encoding(encoding).encode_ordinary(text))


def count_text_tokens(text: str, model: str) -> int:
    """Tokens in a plain string; special-token text is counted as ordinary text."""
    return _count(encoding_name_for_model(model), text)


def count_message_tokens(
    messages: Iterable[Message], model: str, *, system: str | None = None
) -> int:
    """Prompt tokens of a chat request, per-message framing and the reply primer included."""
    encoding = encoding_name_for_model(model)
    total = REPLY_PRIMER_TOKENS
    if system:
        total += TOKENS_PER_MESSAGE + _count(encoding, "system")
        total += _count(encoding, system)
    for message in messages:
        total += TOKENS_PER_MESSAGE
        total += _count(encoding, message.role)
        total += _count(encoding, message.content)
    return total
