"""A long message read as context plus a question: the question is embedded, the context keyed.

"Here is my lease: <200 words>. How much is the pet fee?" and the same lease with "How much is
the early termination fee?" score 0.98 as whole texts: the shared document outweighs the
question at the end. So a message longer than `LONG_WORDS` words (or `LONG_CHARS` characters,
for text written without spaces) is split at its last sentence boundaries: the final sentence
(with those before it until it holds `MIN_QUESTION_WORDS` words) is the question, compared by
meaning; everything before it is the context, which must be the same, character for character
after normalisation, for two messages to be compared at all (the semantic cache adds its digest
to the partition). Two messages that differ anywhere are then either compared on their differing
questions or not compared.

A long message without sentence boundaries stays whole (its vector sees all of it, up to the
embedder's window; past the window it is ``too_long``).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

LONG_WORDS = 40
LONG_CHARS = 240
MIN_QUESTION_WORDS = 4
_MIN_QUESTION_CJK = 6  # the same for Chinese, written without spaces
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Where a sentence ends: . ! ? (and their CJK forms) followed by space, or a line break.
_BOUNDARY = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])\s*|\s*\n\s*")


@lru_cache(maxsize=4096)
def split_question(text: str) -> tuple[str, str]:
    """``(context, question)`` of a normalised message; ``("", text)`` when it is short or has
    no sentence boundary to split at."""
    if len(text.split()) <= LONG_WORDS and len(text) <= LONG_CHARS:
        return "", text
    starts = [m.end() for m in _BOUNDARY.finditer(text) if m.end() < len(text)]
    for start in reversed(starts):
        question = text[start:].strip()
        if _long_enough(question):
            context = text[:start].strip()
            return (context, question) if context else ("", text)
    return "", text


def with_context(tier: str, context: str) -> str:
    """The partition of a question asked after ``context``: ``tier`` itself when there is none."""
    if not context:
        return tier
    digest = hashlib.blake2b(context.encode(), digest_size=12).hexdigest()
    return f"{tier}|ctx:{digest}"


def _long_enough(question: str) -> bool:
    return (
        len(question.split()) >= MIN_QUESTION_WORDS
        or len(_CJK.findall(question)) >= _MIN_QUESTION_CJK
    )
