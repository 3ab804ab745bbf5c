"""The names guard: every proper name one query mentions must be mentioned by the other.

Embeddings barely weigh a name: "Lake Superior" / "Lake Ontario" and "Clinton County" / "Union
County" score like paraphrases. A capitalised word that does not start a sentence, or an
all-capitals word, is taken as a name. A query written in Title Case or in capitals throughout
gives no names of its own (its capitals say nothing), but still has to contain the other's.
Names in lower-case text are not detected. Units are not names ("Celsius", "8 GB", "350°F"):
the units guard compares them.

A name is mentioned by the other query when that query has the word (in any case, "France's" =
"France"), or writes the same name another way that paraphrases use:

* **an acronym and its expansion**: "US" / "United States", "NYC" / "New York City", "FBI" /
  "Federal Bureau of Investigation" (capitalised words whose initials spell the acronym; "of",
  "and", "the", "for" may sit between them; for acronyms of three letters or more, lower-case
  words too: "IRA" / "individual retirement account");
* **a place and its adjective**: "Syria" / "Syrian", "Mexico" / "Mexican", "Japan" /
  "Japanese", "Israel" / "Israeli": the same stem (a final vowel dropped) with a demonym ending
  (-n, -an, -ian, -ese, -i) added; and WordNet's places (`cache.lexicons.place_names`): an
  adjective and its place (Spanish / Spain, French / France, American / America, United
  States, US), a place's other names (Holland / Netherlands, UK / United Kingdom). A name of
  several words counts only written in full ("United Airlines" is no "United States").
"""

from __future__ import annotations

import re
from functools import lru_cache

from cache.guard_words import KEPT, WORD, bare, lower_words
from cache.lexicons import place_names, place_openings, unit_words

# A model or form code is one name with or without its hyphen: "F-150" / "F150", "W-2" / "W2".
_CODE_WITH_HYPHEN = re.compile(r"\b([A-Za-z]+)-(\d+)\b")
_CAPITALS_ADDED = re.compile(r"[A-Z]{1,3}")
_SENTENCE_END = re.compile(r"[.!?:;]\s*$")
_ACRONYM = re.compile(r"[A-Z]{2,6}")
# The parts of a CamelCase word: "JavaScript" -> Java, Script; "PostgreSQL" -> Postgre, SQL.
_CAMEL_PART = re.compile(r"[A-Z][a-z]+|[A-Z]+(?![a-z])")
_ACRONYM_GLUE = frozenset({"of", "and", "the", "for", "&"})
_DEMONYM_ENDINGS = frozenset({"ian", "ese", "an", "n", "i"})
_MIN_PLACE = 4
_LOWER_CASE_ACRONYM = 3
# Written in capitals, but words of the language rather than names.
_NOT_NAMES = frozenset(
    ["ok", "asap", "fyi", "diy", "faq", "aka", "btw", "imo", "imho", "tbh", "lol", "omg"]
)


def names_differ(query_a: str, query_b: str) -> bool:
    """Whether a name in one query is missing from the other (see the module docstring)."""
    query_a, query_b = (
        _CODE_WITH_HYPHEN.sub(r"\1\2", query_a),
        _CODE_WITH_HYPHEN.sub(r"\1\2", query_b),
    )
    return bool(_unmatched(query_a, query_b) or _unmatched(query_b, query_a))


def _unmatched(query: str, other: str) -> frozenset[str]:
    names = _names(query)
    if not names:
        return names
    words, own = frozenset(lower_words(other)), frozenset(lower_words(query))
    missing = {
        n
        for n in names
        if n not in words and not _same_place(n, words) and not _named_alike(n, own, words)
    }
    if not missing:
        return frozenset()
    missing -= _qualifiers(missing, query, other) | _capitals_added(missing, query, other)
    if not missing:
        return frozenset()
    # Acronyms in `other` spelled out here, and acronyms here spelled out in `other`.
    missing -= _expanded(query, _acronyms(other))
    missing -= {
        n for n in missing if n in _acronyms(query) and any(_spelled(r, n) for r in _runs(other, n))
    }
    return frozenset(missing)


def _capitals_added(missing: set[str], query: str, other: str) -> set[str]:
    """Names the other query writes with up to three capitals more, or that write one of the
    other's so: "Postgres" / "PostgreSQL", "BC" / "BCE", "US" / "USA" ("Paul" / "Paula",
    "Java" / "JavaScript" stay names of their own)."""
    written = {bare(t.lower()): t for t in WORD.findall(query) if bare(t.lower()) in missing}
    found = set()
    for token in WORD.findall(other):
        lowered = token.lower()
        for name, as_written in written.items():
            if (lowered.startswith(name) and _CAPITALS_ADDED.fullmatch(token[len(name) :])) or (
                as_written.lower().startswith(lowered)
                and _CAPITALS_ADDED.fullmatch(as_written[len(token) :])
            ):
                found.add(name)
    return found


def _qualifiers(missing: set[str], query: str, other: str) -> set[str]:
    """Names that only qualify a name the other query says alone: "Samsung" of "Samsung Galaxy
    S21" / "Galaxy S21", "Jerry" of "Jerry Sandusky" / "Sandusky". Not when the other query
    has a name of its own there ("North Korea" / "South Korea", "Google Maps" / "Apple Maps"),
    nor when the two words name a place together ("New York" / "York")."""
    tokens, other_tokens = WORD.findall(query), WORD.findall(other)
    other_words = lower_words(other)
    found = set()
    for at in range(len(tokens) - 1):
        name = bare(tokens[at].lower())
        if name not in missing or not tokens[at + 1][0].isupper():
            continue
        head = bare(tokens[at + 1].lower())
        if head not in other_words:
            continue
        where = other_words.index(head)
        if where and other_tokens[where - 1][0].isupper():
            continue
        if (name, head) in place_openings():
            continue
        found.add(name)
    return found


def _same_place(name: str, words: frozenset[str]) -> bool:
    return any(_place_and_adjective(name, w) or _place_and_adjective(w, name) for w in words)


def _named_alike(name: str, own: frozenset[str], other: frozenset[str]) -> bool:
    """Whether ``other`` names the place ``name`` stands for (Spanish: "Spain"), or ``name`` is
    a word of a place named in full here that a word of ``other`` stands for ("States" of
    "United States", and "American" there)."""
    if any(_written(place, other) for place in _places(name)):
        return True
    return any(name in place and _written(place, own) for word in other for place in _places(word))


@lru_cache(maxsize=KEPT)
def _places(word: str) -> tuple[frozenset[str], ...]:
    # As `lower_words` reads them: "united states" -> {"united", "state"}.
    return tuple(frozenset(map(bare, place)) for place in place_names().get(word, ()))


def _written(place: frozenset[str], words: frozenset[str]) -> bool:
    return place <= words


def _place_and_adjective(place: str, adjective: str) -> bool:
    # Syria / Syrian, Mexico / Mexican, Japan / Japanese, Israel / Israeli, Germany / German.
    if len(place) < _MIN_PLACE or place[0] != adjective[0]:
        return False
    stems = (place, place[:-1]) if place[-1] in "aeoy" else (place,)
    if place[-1] == "y" and adjective == place[:-1]:
        return True
    return any(
        adjective.startswith(stem) and adjective[len(stem) :] in _DEMONYM_ENDINGS for stem in stems
    )


@lru_cache(maxsize=KEPT)
def _acronyms(text: str) -> frozenset[str]:
    return frozenset(t.lower() for t in WORD.findall(text) if _ACRONYM.fullmatch(t))


@lru_cache(maxsize=KEPT)
def _capital_runs(text: str) -> tuple[tuple[str, ...], ...]:
    """Runs of capitalised words (the text's first word counts: normalisation may have lowered
    it), with the glue words between them, as lower-case words; a word in CamelCase counts as
    its parts ("JavaScript": java, script, which "JS" spells)."""
    runs: list[tuple[str, ...]] = []
    current: list[str] = []
    for i, token in enumerate(WORD.findall(text)):
        lowered = token.lower()
        if token[0].isupper() or i == 0 or (current and lowered in _ACRONYM_GLUE):
            current.extend(part.lower() for part in _CAMEL_PART.findall(token) or [token])
        else:
            runs.append(tuple(current))
            current = []
    runs.append(tuple(current))
    return tuple(run for run in runs if run)


def _runs(text: str, acronym: str) -> tuple[tuple[str, ...], ...]:
    """Where ``text`` may spell out ``acronym``: its capitalised runs; for three letters or
    more, any of its words ("an individual retirement account" is an IRA; two lower-case words
    with the right initials are too common to count)."""
    if len(acronym) >= _LOWER_CASE_ACRONYM:
        return (*_capital_runs(text), lower_words(text))
    return _capital_runs(text)


def _spelled(run: tuple[str, ...], acronym: str) -> tuple[str, ...] | None:
    """The words of ``run`` whose initials spell ``acronym``, if any. A glue word may stand
    for a letter (Bank of America: BOA) or be skipped (Federal Bureau of Investigation: FBI)."""
    for start in range(len(run)):
        if run[start][0] == acronym[0]:
            picked = _spell_from(run, start + 1, acronym[1:])
            if picked is not None:
                return (run[start], *picked)
    return None


def _spell_from(run: tuple[str, ...], at: int, rest: str) -> tuple[str, ...] | None:
    if not rest:
        return ()
    for i in range(at, len(run)):
        if run[i][0] == rest[0]:
            picked = _spell_from(run, i + 1, rest[1:])
            if picked is not None:
                return (run[i], *picked)
        if run[i] not in _ACRONYM_GLUE:
            return None
    return None


def _expanded(text: str, acronyms: frozenset[str]) -> frozenset[str]:
    """The words of ``text`` that spell out one of ``acronyms``."""
    found: set[str] = set()
    for acronym in acronyms:
        for run in _runs(text, acronym):
            words = _spelled(run, acronym)
            if words:
                found.update(bare(w) for w in words)
    for token in WORD.findall(text):  # a CamelCase word whose parts were all spelled
        parts = [part.lower() for part in _CAMEL_PART.findall(token)]
        if len(parts) > 1 and set(parts) <= found:
            found.add(bare(token.lower()))
    return frozenset(found)


@lru_cache(maxsize=KEPT)
def _names(text: str) -> frozenset[str]:
    matches = list(WORD.finditer(text))
    tokens = [
        (m.group(), i == 0 or bool(_SENTENCE_END.search(text[: m.start()])))
        for i, m in enumerate(matches)
    ]
    inner = [t for t, first in tokens if not first and t[0].isalpha()]
    if len(inner) >= 3 and sum(t[0].isupper() for t in inner) * 5 > 3 * len(inner):
        return frozenset()  # Title Case or shouting: capitals carry no information here
    names = set()
    for i, (token, starts_sentence) in enumerate(tokens):
        if not token[0].isupper() or re.split(r"['’]", token)[0] == "I":
            continue  # "I", "I'm", "I've"
        if token.lower() in unit_words().names or (
            i and _is_unit(matches[i - 1], matches[i], text)
        ):
            continue  # "Fahrenheit", "8 GB", "350°F": a unit, compared by the units guard
        if token.lower() in _NOT_NAMES:
            continue
        shouted = len(token) > 1 and token.isupper()
        if not starts_sentence or shouted:
            names.add(bare(token.lower()))
    return frozenset(names)


def _is_unit(before: re.Match[str], token: re.Match[str], text: str) -> bool:
    if not before.group().isdigit():
        return False
    between = text[before.end() : token.start()]
    return between == "°" or (
        between in ("", " ") and token.group().lower() in unit_words().symbols
    )
