"""`MiniLMTokens`: all-MiniLM-L6-v2's word-piece tokenizer, and the per-text facts read from it.

Split from the model because a gateway whose forward passes run in a helper process
(`agent.embedders.forward_process`) still tokenises here: the cache's window and vocabulary
checks need the tokens, and the helper then receives ids, not text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from tokenizers import Tokenizer

_ENCODINGS_KEPT = 4096
_CACHED_BATCH = 16  # token_ids of up to this many texts go through the per-text cache
# Sentence-transformers' max_seq_length for this model (sentence_bert_config.json).
DEFAULT_MAX_TOKENS = 256


class _Tokens(NamedTuple):
    """What the model and the cache's checks need from one text's tokenisation, read out of the
    tokenizer's `Encoding` once: its ``ids`` and ``overflowing`` properties build new Python
    objects on every access (~10 us a lookup made them cost ~0.25 ms per request)."""

    ids: list[int]
    truncated: bool
    unknown_ratio: float


class MiniLMTokens:
    """The tokenizer without padding, truncating at the model's window; thread-safe."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        # A request's text is tokenised by the window and vocabulary checks of its lookup, its
        # store and every candidate it is compared with, and by the forward pass: once is
        # enough (~50 us each).
        self._tokens = lru_cache(maxsize=_ENCODINGS_KEPT)(self._tokenise)
        self._unk_id = tokenizer.token_to_id("[UNK]")
        self._special_ids = frozenset(tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))

    @classmethod
    def load(cls, directory: Path, max_tokens: int | None = None) -> MiniLMTokens:
        """The checkpoint's ``tokenizer.json``, truncating at *max_tokens* (default: the
        checkpoint's ``sentence_bert_config.json``, else 256)."""
        if max_tokens is None:
            st_config = directory / "sentence_bert_config.json"
            max_tokens = DEFAULT_MAX_TOKENS
            if st_config.exists():
                max_tokens = int(json.loads(st_config.read_text())["max_seq_length"])
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        return cls(tokenizer)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Word-piece ids per text, with [CLS]/[SEP], truncated; exactly what the model sees."""
        if len(texts) > _CACHED_BATCH:  # bulk (documents, calibration): not worth keeping
            return [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        # A request's few texts are already cached by its checks (and encode_batch would start
        # the tokenizer's own thread pool on cores the forward pass is using).
        return [self._tokens(text).ids for text in texts]

    def unknown_token_ratio(self, text: str) -> float:
        """Fraction of the text's word pieces (not [CLS]/[SEP]) that are [UNK]; 0.0 if none.

        A high ratio (Chinese, emoji-only) means the vector says little about the text.
        """
        return self._tokens(text).unknown_ratio

    def truncated(self, text: str) -> bool:
        """Whether ``text`` is longer than the model's window, so its vector ignores the tail."""
        return self._tokens(text).truncated

    def _tokenise(self, text: str) -> _Tokens:
        encoding = self._tokenizer.encode(text)
        ids = encoding.ids
        unknown = unknown_share(ids, self._unk_id, self._special_ids)
        return _Tokens(ids, bool(encoding.overflowing), unknown)


def unknown_share(ids: list[int], unk_id: int | None, special_ids: frozenset[int | None]) -> float:
    """The share of word pieces (not [CLS]/[SEP]/[PAD]) that are [UNK]; 0.0 for none."""
    pieces = [t for t in ids if t not in special_ids]
    return sum(1 for t in pieces if t == unk_id) / len(pieces) if pieces else 0.0
