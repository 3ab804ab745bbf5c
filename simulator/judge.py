"""The simulated model as a cache judge (Frugal's `agent.core.judge.ModelJudge` prompt).

A real judge reads meaning; the simulator compares words: ``yes`` when the new and the cached
question hold the same content words (order, case and common function words aside), else
``no``. Deterministic, so tests can pick paraphrases the judge accepts and near misses it
refuses.
"""

from __future__ import annotations

import re

NEW_QUESTION = "New question:"
CACHED_QUESTION = "Cached question:"
_FUNCTION_WORDS = frozenset(
    {"a", "an", "the", "i", "my", "me", "can", "could", "do", "does", "how", "what", "is"}
    | {"are", "to", "of", "for", "in", "on", "please", "would", "you"}
)


def is_judge_prompt(text: str) -> bool:
    """Whether ``text`` is the cache judge's question."""
    return NEW_QUESTION in text and CACHED_QUESTION in text


def judge_reply(text: str) -> str:
    """``yes`` or ``no`` for a judge prompt (see the module docstring)."""
    fields = dict(
        (line.split(":", 1)[0].strip(), line.split(":", 1)[1])
        for line in text.splitlines()
        if ":" in line
    )
    new = _content(fields.get(NEW_QUESTION[:-1], ""))
    cached = _content(fields.get(CACHED_QUESTION[:-1], ""))
    return "yes" if new and new == cached else "no"


def _content(question: str) -> frozenset[str]:
    return frozenset(
        w for w in re.findall(r"[a-z0-9]+", question.lower()) if w not in _FUNCTION_WORDS
    )
