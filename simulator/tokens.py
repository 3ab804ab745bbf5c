"""Token counting for the simulator: tiktoken over the BPE files the repository bundles.

The simulator imports nothing from the gateway, but it reads the same bundled ``.tiktoken``
files (``agent/data/tiktoken``, as data) so its usage numbers match the gateway's counts.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache, lru_cache
from pathlib import Path

import tiktoken

# Data shipped next to this package (a sibling in a checkout and in site-packages alike).
BUNDLED_BPE_DIR = Path(__file__).resolve().parent.parent / "agent" / "data" / "tiktoken"

# Chat framing overhead, as OpenAI's cookbook documents it for current chat models.
TOKENS_PER_MESSAGE = 3
REPLY_PRIMER_TOKENS = 3

_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
    r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
# name -> (sha256 of the official file, split pattern, special tokens)
_SPECS: dict[str, tuple[str, str, dict[str, int]]] = {
    "cl100k_base": (
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PAT,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
    "o200k_base": (
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PAT,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
}


@cache
def _encoding(name: str) -> tiktoken.Encoding:
    sha256, pattern, special = _SPECS[name]
    data = (BUNDLED_BPE_DIR / f"{name}.tiktoken").read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"{name}.tiktoken is not the official file (sha256 mismatch)")
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }
    return tiktoken.Encoding(
        name=name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=special
    )


def encoding_for_model(model: str) -> tiktoken.Encoding:
    """``o200k_base`` for gpt-4o/4.1/5 and o-series models, else ``cl100k_base``."""
    name = model.lower().rsplit("/", 1)[-1]
    return _encoding("o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base")


@lru_cache(maxsize=4096)
def _remembered(model: str, text: str) -> int:
    return len(encoding_for_model(model).encode_ordinary(text))


def count_text_tokens(text: str, model: str) -> int:
    """Tokens in a plain string (special-token text counts as ordinary text)."""
    if len(text) <= 4000:
        return _remembered(model, text)
    return len(encoding_for_model(model).encode_ordinary(text))


def turn_tokens(role: str, text: str, model: str) -> int:
    """One chat turn with its framing, as OpenAI bills it."""
    return TOKENS_PER_MESSAGE + count_text_tokens(role, model) + count_text_tokens(text, model)
