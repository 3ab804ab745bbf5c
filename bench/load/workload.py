"""Workload files for ``frugal load``: the JSONL format and a seeded customer-support generator.

One `WorkloadItem` per line. The generator mixes seven kinds of traffic (`Mix`) drawn from
`bench.load.workload_sources`, and sets each line's ``expect_cache`` hint from what a correct
gateway can know at that point of the file, sent in order: ``exact`` when the same (normalised)
text was already asked as a cacheable single-turn question, ``semantic`` when a question of the
same paraphrase group was, and the project's false-hit guards (`cache.guards`) would allow the
match, else ``none``. Realtime questions and session turns are never cacheable.
"""

from __future__ import annotations

import argparse
import math
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, get_args

import msgspec

from bench.load.workload_sources import (
    CATEGORIES,
    DATA_DIR,
    Category,
    Mix,
    PoolKind,
    WorkloadSources,
    session_lengths,
)
from cache.guards import hit_allowed
from cache.normalize import normalize_text

Kind = Literal["faq", "realtime", "technical", "chit-chat"]
ExpectCache = Literal["exact", "semantic", "none"]

DEFAULT_N = 1000
DEFAULT_SEED = 7


class WorkloadItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One request of a workload.

    ``group`` names a paraphrase group (same intent, other words); lines sharing a ``session``
    are one conversation, sent in file order, one at a time; ``user_id`` names a demo user
    (realtime questions need one); ``expect_cache`` hints what a correct gateway should do.
    """

    id: Annotated[str, msgspec.Meta(min_length=1)]
    message: Annotated[str, msgspec.Meta(min_length=1)]
    kind: Kind = "faq"
    group: str | None = None
    session: str | None = None
    user_id: str | None = None
    expect_cache: ExpectCache | None = None


class WorkloadError(ValueError):
    """A workload file that cannot be used; the message names the file and line."""


def default_workload_path() -> Path:
    """The bundled workload: ``make_workload(n=DEFAULT_N, seed=DEFAULT_SEED)`` with the default
    mix (regenerate with ``frugal load --make-workload`` after changing the generator)."""
    return DATA_DIR / "workload_default.jsonl"


def read_workload(path: str | Path) -> list[WorkloadItem]:
    """The items of a JSONL workload file (blank lines skipped).

    Raises `WorkloadError` naming ``path:line`` for malformed JSON, unknown or mistyped fields
    and duplicate ids, and when the file holds no request.
    """
    decoder = msgspec.json.Decoder(WorkloadItem)
    items: list[WorkloadItem] = []
    seen: set[str] = set()
    for number, line in enumerate(Path(path).read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = decoder.decode(line)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            raise WorkloadError(f"{path}:{number}: {exc}") from exc
        if item.id in seen:
            raise WorkloadError(f"{path}:{number}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise WorkloadError(f"{path}: no requests")
    return items


def write_workload(items: Iterable[WorkloadItem], path: str | Path) -> None:
    """Write ``items`` as JSONL, one per line, default-valued fields left out."""
    encoder = msgspec.json.Encoder()
    Path(path).write_bytes(b"".join(encoder.encode(item) + b"\n" for item in items))


def category_of(item: WorkloadItem) -> Category:
    """Which `Mix` category a line belongs to, judged from its fields alone.

    Session turns are multi-turn whatever they say; single-turn realtime, technical and
    chit-chat lines are counted by kind; the faq rest by hint: exact repeat, paraphrase or
    unique.
    """
    if item.session is not None:
        return "multi_turn"
    match item.kind:
        case "realtime":
            return "realtime"
        case "technical":
            return "technical"
        case "chit-chat":
            return "chit_chat"
    if item.expect_cache == "exact":
        return "exact"
    return "paraphrase" if item.expect_cache == "semantic" else "unique"


def mix_of(items: Sequence[WorkloadItem]) -> Mix:
    """The mix a workload actually has. Raises ValueError when ``items`` is empty."""
    counted = Counter(category_of(item) for item in items)
    return Mix(**{name: counted[name] / max(len(items), 1) for name in CATEGORIES})


def make_workload(
    *, n: int, seed: int, mix: Mix | None = None, sources: WorkloadSources | None = None
) -> list[WorkloadItem]:
    """``n`` lines of customer-support traffic in the proportions of ``mix`` (default `Mix()`).

    The same arguments give the same lines, byte for byte. Repeats and paraphrases only refer
    to earlier lines; a session's 2-4 turns are interleaved with other traffic, usually 0-3
    lines apart. The mix is met exactly unless a pool runs dry: a lone multi-turn line becomes
    a unique question; a repeat or paraphrase with nothing to refer to, a new question; once
    every wording of the asked intents is used (a few thousand lines in), a paraphrase becomes a
    repeat. `mix_of` tells what was produced. Raises ValueError when even the one-off templates
    run out (beyond some 50,000 lines).
    """
    if n < 0:
        raise ValueError("n must be zero or more")
    mix = mix or Mix()
    counts = mix.counts(n)
    if counts["multi_turn"] == 1:
        counts["multi_turn"], counts["unique"] = 0, counts["unique"] + 1
    rng = random.Random(seed)
    builder = _Builder(sources or WorkloadSources.load_default(), rng, mix)
    builder.session_lengths.extend(session_lengths(counts["multi_turn"], rng))
    tokens: list[Category] = [
        name for name in CATEGORIES if name != "multi_turn" for _ in range(counts[name])
    ]
    tokens.extend(["multi_turn"] * len(builder.session_lengths))
    rng.shuffle(tokens)
    builder.run(deque(tokens))
    return builder.items


@dataclass
class _Session:
    id: str
    user_id: str
    turns: deque[tuple[str, PoolKind]]
    wait: int


class _Builder:
    # Emits lines in file order and keeps the ledger the expect_cache hints are computed from.

    def __init__(self, sources: WorkloadSources, rng: random.Random, mix: Mix) -> None:
        self.sources = sources
        self.rng = rng
        self.mix = mix
        self.items: list[WorkloadItem] = []
        self.session_lengths: deque[int] = deque()
        self._sessions: list[_Session] = []
        self._session_count = 0
        self._openers: set[str] = set()
        # Single-turn faq and technical lines by kind (what repeats copy), and those of them
        # with a paraphrase group (what paraphrases reword).
        self._cacheable: dict[str, list[WorkloadItem]] = {"faq": [], "technical": []}
        self._groups: dict[str, list[str]] = {"faq": [], "technical": []}  # asked so far
        self._distinct: dict[str, list[WorkloadItem]] = {"faq": [], "technical": []}
        self._keys: set[str] = set()  # normalised text of every cacheable line
        self._mates: dict[str, list[str]] = {}  # group -> its cacheable wordings so far
        self._used: dict[str, set[str]] = {}  # group -> wordings used so far
        self._guarded: dict[tuple[str, str], bool] = {}
        self._make: dict[Category, Callable[[], bool]] = {
            "exact": lambda: self._exact("faq"),
            "paraphrase": lambda: self._paraphrase("faq"),
            "unique": lambda: self._new("faq", self.sources.faq_groups),
            "technical": self._technical,
            "realtime": self._realtime,
            "multi_turn": self._start_session,
            "chit_chat": self._chit_chat,
        }

    def run(self, tokens: deque[Category]) -> None:
        while tokens or self._sessions:
            due = next((s for s in self._sessions if s.wait <= 0), None)
            if due is None and not tokens:
                due = self._sessions[0]
            if due is not None:
                self._next_turn(due)
            else:
                self._take(tokens)
            for session in self._sessions:
                session.wait -= 1

    def _take(self, tokens: deque[Category]) -> None:
        token = tokens.popleft()
        if self._make[token]():
            return
        # Nothing earlier to repeat or paraphrase yet: bring a later new question forward (or,
        # with none left, ask one now: a mix without unique questions cannot repeat any).
        if "unique" in tokens:
            tokens.remove("unique")
            tokens.appendleft(token)
        elif token == "paraphrase" and self._exact("faq"):
            return
        self._new("faq", self.sources.faq_groups)

    def _expect(self, text: str, group: str | None) -> ExpectCache:
        if normalize_text(text) in self._keys:
            return "exact"
        if group is not None and any(self._allowed(text, m) for m in self._mates.get(group, ())):
            return "semantic"
        return "none"

    def _allowed(self, text: str, mate: str) -> bool:
        # The guards cost ~0.3 ms a pair and the same pairs come up again and again.
        pair = (text, mate)
        if pair not in self._guarded:
            self._guarded[pair] = hit_allowed(text, mate)
        return self._guarded[pair]

    def _emit(
        self,
        message: str,
        kind: Kind,
        expect: ExpectCache,
        *,
        group: str | None = None,
        session: str | None = None,
        user_id: str | None = None,
    ) -> None:
        item_id = f"w{len(self.items) + 1:05d}"
        item = WorkloadItem(item_id, message, kind, group, session, user_id, expect)
        self.items.append(item)
        if group is not None:
            self._used.setdefault(group, set()).add(message)
        if session is not None or kind == "realtime":
            return
        self._keys.add(normalize_text(message))
        if group is not None and message not in self._mates.setdefault(group, []):
            self._mates[group].append(message)
        if kind in self._cacheable:
            if expect != "exact":
                self._distinct[kind].append(item)
            self._cacheable[kind].append(item)
            if group is not None and len(self._mates[group]) == 1:
                self._groups[kind].append(group)

    def _exact(self, kind: PoolKind) -> bool:
        if not self._cacheable[kind]:
            return False
        # Half the time by line (popular questions get more popular), half by distinct text,
        # so that whichever question came first does not take over the whole file.
        if self.rng.random() < 0.5:
            source = self.rng.choice(self._cacheable[kind])
        else:
            source = self.rng.choice(self._distinct[kind])
        self._emit(source.message, source.kind, "exact", group=source.group)
        return True

    def _paraphrase(self, kind: PoolKind) -> bool:
        # Any intent asked before, as likely as a new one of its source would be.
        groups = [self.sources.groups[g] for g in self._groups[kind]]
        groups = [g for g in groups if len(self._used[g.id]) < len(g.wordings)]
        for _ in range(8 if groups else 0):
            group = self.rng.choices(groups, [g.weight for g in groups])[0]
            unused = [w for w in group.wordings if w not in self._used[group.id]]
            for text in self.rng.sample(unused, min(len(unused), 6)):
                if self._expect(text, group.id) == "semantic":
                    self._emit(text, group.kind, "semantic", group=group.id)
                    return True
        return False

    def _technical(self) -> bool:
        # Developer traffic repeats and rewords itself in the same proportions as the rest.
        weights = [self.mix.exact, self.mix.paraphrase, self.mix.unique]
        pick = self.rng.random() * sum(weights) if sum(weights) > 0 else math.inf
        if pick < weights[0] and self._exact("technical"):
            return True
        if weights[0] <= pick < weights[0] + weights[1] and self._paraphrase("technical"):
            return True
        return self._new("technical", self.sources.technical_groups)

    def _new(self, kind: PoolKind, group_ids: Sequence[str]) -> bool:
        # A question no earlier line answers: a new group's first wording, or a one-off.
        unseen = [g for g in group_ids if g not in self._used]
        if unseen and self.rng.random() < 0.7:
            weights = [self.sources.groups[g].weight for g in unseen]
            group = self.sources.groups[self.rng.choices(unseen, weights)[0]]
            for text in self.rng.sample(group.wordings, len(group.wordings)):
                if self._expect(text, group.id) == "none":
                    self._emit(text, kind, "none", group=group.id)
                    return True
        draw = self.sources.product_question
        if kind == "technical":
            draw = self.sources.technical_question
        for _ in range(200):
            text = draw(self.rng)
            if self._expect(text, None) == "none":
                self._emit(text, kind, "none")
                return True
        raise ValueError(f"ran out of distinct {kind} questions: ask for a smaller workload")

    def _realtime(self) -> bool:
        text, user_id = self.sources.realtime_question(self.rng)
        self._emit(text, "realtime", "none", user_id=user_id)
        return True

    def _chit_chat(self) -> bool:
        group = self.sources.groups[self.rng.choice(self.sources.chit_chat_groups)]
        used = self._used.get(group.id, set())
        fresh = [w for w in group.wordings if w not in used]
        text = self.rng.choice(fresh or list(group.wordings))
        self._emit(text, "chit-chat", self._expect(text, group.id), group=group.id)
        return True

    def _start_session(self) -> bool:
        self._session_count += 1
        session_id = f"s{self._session_count:04d}"
        script = self.sources.session_script(self.rng, self.session_lengths.popleft())
        for _ in range(10):
            if script.opener not in self._openers:
                break
            script = self.sources.session_script(self.rng, len(script.follow_ups) + 1)
        opener = script.opener
        if opener in self._openers:
            # Distinct openers: no two sessions share a history an answer could be cached under.
            opener = f"{opener} My case number is {session_id}."
        self._openers.add(opener)
        self._emit(opener, "realtime", "none", session=session_id, user_id=script.user_id)
        wait = self.rng.randint(1, 4)
        self._sessions.append(_Session(session_id, script.user_id, deque(script.follow_ups), wait))
        return True

    def _next_turn(self, session: _Session) -> None:
        text, kind = session.turns.popleft()
        self._emit(text, kind, "none", session=session.id, user_id=session.user_id)
        if session.turns:
            session.wait = self.rng.randint(1, 4)
        else:
            self._sessions.remove(session)


def make_workload_cli(argv: Sequence[str]) -> int:
    """``frugal load --make-workload OUT [--n N] [--seed S] [--mix exact=0.3,...]``.

    ``argv`` are the arguments after ``frugal load`` (a bare ``OUT`` is accepted too). Writes the
    workload, prints one line with the mix actually produced, and returns the exit status.
    """
    parser = argparse.ArgumentParser(
        prog="frugal load",
        description="Generate a seeded customer-support workload (JSONL) for `frugal load`.",
    )
    parser.add_argument("out", nargs="?", type=Path, help="output file")
    parser.add_argument("--make-workload", dest="make_workload", type=Path, metavar="OUT")
    parser.add_argument("--n", type=_positive_int, default=DEFAULT_N, help="number of requests")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--mix",
        type=_mix_arg,
        default=Mix(),
        help="shares, e.g. exact=0.3,paraphrase=0.2 (others 0); default: "
        + Mix().describe().replace("%", "%%"),
    )
    args = parser.parse_args(list(argv))
    out: Path | None = args.make_workload or args.out
    if out is None:
        parser.error("give the output file: --make-workload OUT")
    items = make_workload(n=args.n, seed=args.seed, mix=args.mix)
    write_workload(items, out)
    sessions = len({item.session for item in items if item.session is not None})
    hints = Counter(item.expect_cache for item in items)
    hinted = ", ".join(f"{name} {hints[name] / len(items):.1%}" for name in get_args(ExpectCache))
    print(
        f"wrote {len(items)} requests ({sessions} sessions) to {out}: "
        f"{mix_of(items).describe()}; expected cache: {hinted}"
    )
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _mix_arg(text: str) -> Mix:
    try:
        return Mix.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
