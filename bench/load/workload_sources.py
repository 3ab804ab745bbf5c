"""Where a generated workload's words come from, and in which shares (`Mix`).

Four pools, all shipped with the repository: the bundled knowledge base (each article's question
plus hand-written paraphrases, from ``bench/data/phrases.json``), banking77 customer queries
(``bench/data/banking77_test_subset.csv``: each intent is one paraphrase group), the demo
accounts (realtime questions name a real order or a user's own account, so the tool planner
fetches live data) and templates for one-off product and developer questions. Every draw takes
the caller's ``random.Random``, so a seed fixes the whole workload.
"""

from __future__ import annotations

import csv
import io
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import msgspec

from agent.knowledge import KnowledgeBase
from agent.tools.accounts import DemoAccounts, DemoUser

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
PHRASES_PATH = DATA_DIR / "phrases.json"
BANKING77_PATH = DATA_DIR / "banking77_test_subset.csv"

# Knowledge-base intents come up this many times as often as a banking77 intent.
_KB_WEIGHT = 5.0

PoolKind = Literal["faq", "technical", "chit-chat"]
"""Kinds of the pooled questions; realtime questions are built from the demo accounts."""

Category = Literal[
    "exact", "paraphrase", "unique", "realtime", "multi_turn", "technical", "chit_chat"
]
"""The kinds of traffic a generated workload mixes."""
CATEGORIES: tuple[Category, ...] = get_args(Category)


class Mix(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Relative shares of the seven kinds of traffic (normalised, so weights work too)."""

    exact: float = 0.30
    paraphrase: float = 0.20
    unique: float = 0.15
    realtime: float = 0.10
    multi_turn: float = 0.10
    technical: float = 0.10
    chit_chat: float = 0.05

    def __post_init__(self) -> None:
        values = [getattr(self, name) for name in CATEGORIES]
        if not all(math.isfinite(v) and v >= 0 for v in values) or sum(values) <= 0:
            raise ValueError("mix shares must be finite, non-negative, and not all zero")

    @classmethod
    def parse(cls, text: str) -> Mix:
        """``"exact=0.5,multi-turn=0.2,..."``; categories left out get 0. Raises ValueError."""
        shares: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            key = name.strip().replace("-", "_")
            if not sep or key not in CATEGORIES:
                raise ValueError(f"expected NAME=SHARE with NAME in {', '.join(CATEGORIES)}")
            shares[key] = float(value)
        return cls(**{name: shares.get(name, 0.0) for name in CATEGORIES})

    def shares(self) -> dict[Category, float]:
        """Each category's share of the total, summing to 1."""
        total = sum(getattr(self, name) for name in CATEGORIES)
        return {name: getattr(self, name) / total for name in CATEGORIES}

    def counts(self, n: int) -> dict[Category, int]:
        """Line counts summing to ``n`` (largest remainder, ties in category order)."""
        exact = {name: share * n for name, share in self.shares().items()}
        counts = {name: math.floor(value) for name, value in exact.items()}
        by_remainder = sorted(CATEGORIES, key=lambda name: counts[name] - exact[name])
        for name in by_remainder[: n - sum(counts.values())]:
            counts[name] += 1
        return counts

    def describe(self) -> str:
        """``"exact 30.0%, paraphrase 20.0%, ..."``."""
        shares = self.shares()
        return ", ".join(f"{name.replace('_', '-')} {shares[name]:.1%}" for name in CATEGORIES)


class KbPhrases(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Hand-written rewordings of one knowledge-base question, and its kind."""

    kind: PoolKind
    paraphrases: tuple[str, ...]


class FollowUp(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A later turn of a multi-turn session."""

    text: str
    kind: PoolKind


class SessionTopic(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Openers (personal: they name an order or the user's account) and follow-ups in order."""

    openers: tuple[str, ...]
    follow_ups: tuple[FollowUp, ...]


class Phrasebook(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The hand-written text in ``bench/data/phrases.json``."""

    kb: dict[str, KbPhrases]
    chit_chat: dict[str, tuple[str, ...]]
    order_questions: tuple[str, ...]
    profile_questions: tuple[str, ...]
    products: tuple[str, ...]
    product_questions: tuple[str, ...]
    technical_questions: tuple[str, ...]
    slots: dict[str, tuple[str, ...]]
    sessions: tuple[SessionTopic, ...]


class Group(msgspec.Struct, frozen=True):
    """A paraphrase group: one intent, several wordings (the first is the canonical one).

    ``weight`` is how likely the intent is to come up when a new one is asked: the shop's own
    knowledge-base questions are asked more often than the borrowed banking ones.
    """

    id: str
    kind: PoolKind
    wordings: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class SessionScript:
    """A conversation: ``opener`` (a realtime question) then ``follow_ups`` as (text, kind)."""

    user_id: str
    opener: str
    follow_ups: tuple[tuple[str, PoolKind], ...]


class WorkloadSources:
    """The text pools behind `bench.load.workload.make_workload`."""

    def __init__(
        self,
        phrasebook: Phrasebook,
        kb: KnowledgeBase,
        accounts: DemoAccounts,
        banking77: Sequence[tuple[str, str]],
    ) -> None:
        """``banking77`` holds (text, intent) rows; each intent becomes a faq group."""
        self._book = phrasebook
        self._accounts = accounts
        groups: list[Group] = []
        for entry in kb.entries:
            phrases = phrasebook.kb.get(entry.id)
            if phrases is None:
                raise ValueError(f"phrases.json has no paraphrases for {entry.id}")
            wordings = (entry.question, *phrases.paraphrases)
            groups.append(Group(entry.id, phrases.kind, wordings, _KB_WEIGHT))
        by_intent: dict[str, list[str]] = {}
        for text, intent in banking77:
            by_intent.setdefault(intent, []).append(text)
        for intent, texts in by_intent.items():
            group_id = "b77-" + re.sub(r"[^a-z0-9]+", "-", intent.lower()).strip("-")
            groups.append(Group(group_id, "faq", tuple(texts)))
        for name, wordings in phrasebook.chit_chat.items():
            groups.append(Group(name, "chit-chat", wordings))
        self.groups: Mapping[str, Group] = {group.id: group for group in groups}
        self.faq_groups = tuple(g.id for g in groups if g.kind == "faq")
        self.technical_groups = tuple(g.id for g in groups if g.kind == "technical")
        self.chit_chat_groups = tuple(g.id for g in groups if g.kind == "chit-chat")
        self._users = tuple(u for u in accounts.users if accounts.orders_of(u.id))

    @classmethod
    def load_default(cls) -> WorkloadSources:
        """The pools shipped with Frugal (knowledge base, demo accounts, ``bench/data``)."""
        book = msgspec.json.decode(PHRASES_PATH.read_bytes(), type=Phrasebook)
        rows = csv.reader(io.StringIO(BANKING77_PATH.read_text(encoding="utf-8")))
        next(rows)  # header: text,category
        banking = [(text, intent) for text, intent in rows]
        return cls(book, KnowledgeBase.load_default(), DemoAccounts.load_default(), banking)

    @property
    def user_ids(self) -> tuple[str, ...]:
        """Demo users that realtime questions and sessions are asked as."""
        return tuple(user.id for user in self._users)

    def product_question(self, rng: random.Random) -> str:
        """A one-off shop question ("Does the webcam work with Linux?"); kind faq."""
        template = rng.choice(self._book.product_questions)
        return template.format(product=rng.choice(self._book.products), **self._slots(rng))

    def technical_question(self, rng: random.Random) -> str:
        """A one-off developer question carrying a technical keyword; kind technical."""
        return rng.choice(self._book.technical_questions).format(**self._slots(rng))

    def realtime_question(self, rng: random.Random) -> tuple[str, str]:
        """(question, user id): an order-status question about one of the user's orders, or a
        question about the user's own account, either of which makes the agent call a tool."""
        user = rng.choice(self._users)
        if rng.random() < 0.7:
            order = rng.choice(self._accounts.orders_of(user.id))
            return rng.choice(self._book.order_questions).format(order=order.id), user.id
        return rng.choice(self._book.profile_questions), user.id

    def session_script(self, rng: random.Random, turns: int) -> SessionScript:
        """A ``turns``-long conversation of a random demo user; follow-ups keep topic order."""
        if not 2 <= turns <= 1 + min(len(t.follow_ups) for t in self._book.sessions):
            raise ValueError(f"cannot script a session of {turns} turns")
        topic = rng.choice(self._book.sessions)
        user = rng.choice(self._users)
        opener = rng.choice(topic.openers).format(**self._person(rng, user))
        picked = sorted(rng.sample(range(len(topic.follow_ups)), turns - 1))
        follow_ups = tuple((topic.follow_ups[i].text, topic.follow_ups[i].kind) for i in picked)
        return SessionScript(user.id, opener, follow_ups)

    def _person(self, rng: random.Random, user: DemoUser) -> dict[str, str]:
        order = rng.choice(self._accounts.orders_of(user.id))
        return {"first_name": user.name.split()[0], "order": order.id}

    def _slots(self, rng: random.Random) -> dict[str, str]:
        # Every slot is drawn each time, so the number of draws never depends on the template.
        values = {name: rng.choice(options) for name, options in self._book.slots.items()}
        values["days"] = str(rng.randint(15, 90))
        values["seconds"] = str(rng.randint(5, 30))
        values["count"] = str(rng.randint(2, 200))
        values["instalments"] = str(rng.randint(2, 24))
        values["version"] = f"{rng.randint(2, 5)}.{rng.randint(0, 12)}"
        return values


def session_lengths(total: int, rng: random.Random) -> list[int]:
    """Turn counts of 2-4 summing to ``total`` (which must not be 1)."""
    if total == 1:
        raise ValueError("a session needs at least two turns")
    lengths: list[int] = []
    while total:
        size = total if total <= 4 else rng.randint(2, 4)
        if total - size == 1:  # never leave a one-line remainder
            size -= 1
        lengths.append(size)
        total -= size
    return lengths
