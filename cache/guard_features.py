"""What the guards read off one query, and the kinds in which two queries' readings differ.

`features` turns a query into counted values per kind: negations, WordNet's and the guards' own
antonym pair sides, numbers (spelled, multiplied, ordinal), units (pint's symbols and names),
ids, dates, emails, URLs, phone numbers and money amounts (Chinese through `cache.guards_zh`).
`feature_kinds` compares two such readings; the word-order and wording checks that need both
queries at once live in `cache.guards`.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from types import MappingProxyType
from typing import NamedTuple

from cache.guard_antonyms import (
    NOT_COMPARED,
    antonym_differences,
    index_pairs,
    keep_second_input,
    lemma,
    own_pair_readings,
    polarity,
    second_reading_alike,
)
from cache.guard_polarity import CONTRACTION_BASES, DIMINISHERS, NEGATIONS, REFUSALS
from cache.guards_zh import Put, scan_chinese, word_list
from cache.lexicons import antonym_sides, unit_words, wordnet_keys

_WEAK = "weak_number"


_EN_SMALL_NUMBERS = word_list(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_EN_TENS_WORDS = word_list("twenty thirty forty fifty sixty seventy eighty ninety")
_EN_NUMBER_WORDS = MappingProxyType(
    {w: str(i) for i, w in enumerate(_EN_SMALL_NUMBERS)}
    | {w: str(20 + 10 * i) for i, w in enumerate(_EN_TENS_WORDS)}
    | {"hundred": "100", "thousand": "1000"}
    | {"million": "1000000", "once": "1", "twice": "2", "thrice": "3", "half": "0.5"}
    | {"single": "1", "double": "2", "triple": "3"}
)
_EN_ORDINALS = MappingProxyType(
    {
        w: str(i)
        for i, w in enumerate(
            word_list(
                "first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
                "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth "
                "nineteenth twentieth"
            ),
            start=1,
        )
    }
)
_EN_WEAK_NUMBERS = frozenset(word_list("one once single first"))
_EN_TENS = frozenset(_EN_TENS_WORDS)
_EN_DIGIT_WORDS = frozenset(_EN_SMALL_NUMBERS[1:10])
_EN_TIME_WORDS = frozenset(
    word_list(
        "today tomorrow yesterday tonight weekend monday tuesday wednesday thursday friday "
        "saturday sunday january february april june july august september october november "
        "december"
    )
)
# Spellings of one phrase: "login", "log into" and "log in" all mean log in.
_EN_ALIASES = MappingProxyType(
    {"login": "log in", "logon": "log in", "logout": "log out", "logoff": "log out"}
    | {"signin": "sign in", "signout": "sign out", "into": "in"}
    | {"max": "maximum", "min": "minimum"}
)
_CURRENCIES = MappingProxyType(
    dict.fromkeys(word_list("$ usd dollar dollars bucks 美元"), "usd")
    | dict.fromkeys(word_list("€ eur euro euros 欧元"), "eur")
    | dict.fromkeys(word_list("£ gbp pound pounds 英镑"), "gbp")
    | dict.fromkeys(word_list("¥ ￥ rmb cny yuan 元 块 块钱 人民币"), "cny")
)

# Read as numbers before the id pattern sees them: "2nd" is second, "15-year" is 15 years.
_NUMBER_BEFORE_ID = re.compile(r"\b\d+(?:st|nd|rd|th)\b|\b\d+(?=-[a-z]+\b)")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
# Extracted in this order, each match blanked before the next pattern runs, so "$20" is money
# and not also the number 20. Every pattern is matched on lower-cased text.
_ENTITY_PATTERNS = (
    ("url", re.compile(r"(?:https?://|www\.)[^\s<>\"'，。]+")),
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    (
        "money",
        re.compile(
            r"(?:[$€£¥￥]\s?\d[\d,]*(?:\.\d+)?)"
            r"|(?:\d[\d,]*(?:\.\d+)?\s?(?:usd|dollars?|bucks|eur|euros?|gbp|pounds?|rmb|cny"
            r"|yuan|cents?|元|块钱|块|美元|欧元|英镑|人民币|角|分钱))"
        ),
    ),
    (
        "date",
        re.compile(
            r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}/\d{1,2}(?:/\d{2,4})?"
            r"|(?:\d{2,4}年)?[\d一二三四五六七八九十]{1,3}月(?:[\d一二三四五六七八九十]{1,3}[日号])?"
            rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
            rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?"
            r"|\d{1,2}:\d{2}(?:\s?[ap]m)?|\d{1,2}\s?[ap]m\b|\d{1,2}[点时]"
        ),
    ),
    ("phone", re.compile(r"\+\d[\d\s().-]{6,}\d|\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}")),
    ("number", _NUMBER_BEFORE_ID),
    (
        "id",
        re.compile(r"#\s?\w+|\b(?=[a-z0-9-]*\d)(?=[a-z0-9-]*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*\b"),
    ),
    # A minus sign standing before a number is part of it: "-5 degrees", "a -2.00 prescription".
    ("number", re.compile(r"(?:(?<![\w.])[-−](?=\d))?\d+(?:[.,]\d+)*(?:st|nd|rd|th)?")),
)
_NUMBER_WORD = (
    "(?:"
    + "|".join(
        sorted(_EN_NUMBER_WORDS.keys() & {*_EN_SMALL_NUMBERS, *_EN_TENS}, key=len, reverse=True)
    )
    + ")"
)
_AMOUNT_IN_WORDS = re.compile(
    rf"\b({_NUMBER_WORD}(?:[- ]{_NUMBER_WORD})?)\s+(dollars?|bucks|euros?|pounds?|cents?)\b"
)
# "ten thousand" = 10000, "1.5 million" = 1500000, "a hundred" = 100, "two hundred fifty" = 250.
_SPELLED = rf"{_NUMBER_WORD}(?:[- ]{_NUMBER_WORD})?"
_MULTIPLIED = re.compile(
    rf"\b({_SPELLED}|\d+(?:\.\d+)?|an?)(?:\s+|-)(hundred|thousand|million|billion)"
    rf"(?:(?:\s+and)?\s+({_SPELLED}))?\b"
)
_MULTIPLIERS = MappingProxyType(
    {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
)
_AFTER_NUMBER = re.compile(r"\d\s?([a-z]{2,5})\b")
# "401(k)" is written "401k" too; "6ft" is "6 ft" (an id only when the letters are no unit).
_LETTER_IN_PARENTHESES = re.compile(r"\b(\d+)\(([a-z])\)")
_GLUED_UNIT = re.compile(r"\b(\d+(?:\.\d+)?)([a-z]{1,5})\b")
_ORDINAL_SUFFIX = re.compile(r"(?<=\d)(?:st|nd|rd|th)$")
_EN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "＇": "'"})


_FEATURES_KEPT = 4096  # queries whose guard features stay cached


def feature_kinds(query_a: str, query_b: str) -> list[str]:
    """The kinds whose values `features` reads differently off the two queries: ``negation``,
    ``antonym:<a>/<b>``, ``number``, ``unit``, ``id``, ``date``, ``email``, ``url``, ``phone``,
    ``money``. A negation or antonym both queries undo in their second reading
    (`cache.guard_polarity`: "not possible" / "impossible") does not count."""
    fa, fb = features(query_a), features(query_b)
    found: list[str] = []
    for kind in sorted((fa.keys() | fb.keys()) - {_WEAK, *NOT_COMPARED}):
        if kind == "number" and not _numbers_differ(fa, fb):
            continue
        if kind == "unit":
            if _units_differ(fa.get(kind, Counter()), fb.get(kind, Counter())):
                found.append(kind)
            continue
        if fa.get(kind, Counter()) != fb.get(kind, Counter()):
            found.append(kind)
    found = antonym_differences(fa, fb, found)
    if any(map(polarity, found)) and second_reading_alike(fa, fb):
        found = [kind for kind in found if not polarity(kind)]
    return found


def _numbers_differ(fa: dict[str, Counter[str]], fb: dict[str, Counter[str]]) -> bool:
    # Weak numbers ("one") count only when the numbers differ without them too.
    strong_a, strong_b = fa.get("number", Counter()), fb.get("number", Counter())
    if strong_a == strong_b:
        return False
    return strong_a + fa.get(_WEAK, Counter()) != strong_b + fb.get(_WEAK, Counter())


def _units_differ(units_a: Counter[str], units_b: Counter[str]) -> bool:
    # Miles against kilometres, minutes per week against hours per week, and a unit replaced
    # by one of another dimension ("a marathon in miles" / "a marathon in hours"):
    # each query names a unit that the other does not. One unit more on one side ("how many
    # hours a day" / "how much a day") or none at all ("how long" / "how many minutes") is not.
    only_a, only_b = units_a.keys() - units_b.keys(), units_b.keys() - units_a.keys()
    return bool(only_a) and bool(only_b)


@lru_cache(maxsize=_FEATURES_KEPT)
def features(text: str) -> dict[str, Counter[str]]:
    """What each guard reads off one query; cached, as a lookup compares its query with several
    candidates and a cached question is compared again on every lookup that finds it. The
    result is shared: callers only read it."""
    feats: dict[str, Counter[str]] = {}

    def put(kind: str, value: str) -> None:
        found = feats.get(kind)
        if found is None:
            found = feats[kind] = Counter()
        found[value] += 1

    rest = _MULTIPLIED.sub(_multiplied, text.lower().translate(_APOSTROPHES))
    rest = _AMOUNT_IN_WORDS.sub(_amount_in_digits, rest)
    rest = _LETTER_IN_PARENTHESES.sub(r"\1\2", rest)
    rest = _GLUED_UNIT.sub(_unit_apart, rest)
    symbols = unit_words().symbols
    for symbol in _AFTER_NUMBER.findall(rest):
        if symbol in symbols:
            put("unit", "|".join(symbols[symbol]))
    for kind, pattern in _ENTITY_PATTERNS:
        for match in pattern.finditer(rest):
            value = re.sub(r"[\s,]", "", match.group()).rstrip(".;:!?)")
            if kind == "money":
                value = _money_key(value)
            elif kind == "number":
                value = _ORDINAL_SUFFIX.sub("", value).replace("−", "-")
            elif kind == "id":
                value = value.replace("-", "")  # "F-150" / "F150", "W-2" / "W2"
            put(kind, value)
        rest = pattern.sub(" ", rest)
    rest = scan_chinese(rest, put)
    chinese_negations = feats.get("negation", Counter()).total()
    chinese_pairs = list(feats.get("ant", ()))  # 开启 / 关闭: the guards' own kind of pair
    english = _scan_english(_EN_WORD.findall(rest), put)
    if english.sides:
        feats.setdefault("ant", Counter()).update(english.sides)
    own, own_second = english.own + chinese_pairs, english.own_second + chinese_pairs
    index_pairs(feats, english.wordnet_pairs, own)
    keep_second_input(feats, rest, chinese_negations, own_second)
    return feats


def _multiplied(match: re.Match[str]) -> str:
    base, multiplier, tail = match.groups()
    if base in ("a", "an"):
        value = float(_MULTIPLIERS[multiplier])
    elif base[0].isdigit():
        value = float(base) * _MULTIPLIERS[multiplier]
    else:
        value = float(_spelled_value(base) * _MULTIPLIERS[multiplier])
    rest = _spelled_value(tail) if tail else 0
    if rest >= _MULTIPLIERS[multiplier]:  # "two hundred two hundred": leave it as written
        return match.group()
    return f"{value + rest:g}" if (value + rest) % 1 else str(int(value + rest))


def _unit_apart(match: re.Match[str]) -> str:
    number, letters = match.groups()
    return f"{number} {letters}" if letters in unit_words().symbols else match.group()


def _spelled_value(words: str) -> int:
    return sum(int(_EN_NUMBER_WORDS[w]) for w in words.replace("-", " ").split())


def _amount_in_digits(match: re.Match[str]) -> str:
    # "twenty dollars" -> "20 dollars", "twelve pound" -> "12 pound": the money pattern then
    # reads both spellings alike.
    return f"{_spelled_value(match.group(1))} {match.group(2)}"


def _money_key(value: str) -> str:
    # "$20", "20 dollars" and "20.00 usd" are the same amount.
    amount = re.search(r"\d+(?:\.\d+)?", value)
    number = float(amount.group()) if amount else 0.0
    unit = re.sub(r"[\d.]", "", value)
    return f"{number:g} {_CURRENCIES.get(unit, unit)}"


def _scan_english(words: list[str], put: Put) -> _English:
    """Put what the English words say; return their antonym pair sides (the caller files
    them: `update` on many keys at once is what keeps this cheap)."""
    ant: Counter[str] = Counter()
    pair_names: set[str] = set()
    lemmas: list[str] = []
    wordnet_sides = antonym_sides()
    unit_names = unit_words().names
    previous, diminished = "", False
    tens = ""  # "sixty" waiting for a "two": sixty-two is 62
    for word in words:
        if tens and word in _EN_DIGIT_WORDS:
            put("number", str(int(_EN_NUMBER_WORDS[tens]) + int(_EN_NUMBER_WORDS[word])))
            tens = ""
            lemmas.append(word)
            continue
        if tens:
            put("number", _EN_NUMBER_WORDS[tens])
        tens = word if word in _EN_TENS else ""
        if word.endswith("n't"):
            put("negation", "neg")
            word = CONTRACTION_BASES.get(word[:-3], word[:-3])
        if word in NEGATIONS or (word == "to" and previous in REFUSALS):
            put("negation", "neg")  # "fail to show up" is "not show up"
        number = _EN_NUMBER_WORDS.get(word) or _EN_ORDINALS.get(word)
        if number is not None and not tens:
            put(_WEAK if word in _EN_WEAK_NUMBERS else "number", number)
        if word in _EN_TIME_WORDS:
            put("date", word[:3])
        lemmas.append(_EN_ALIASES.get(word) or lemma(word))
        unit = unit_names.get(word)
        if unit is not None:
            put("unit", "|".join(unit))
        if word in wordnet_sides:
            # "least expensive" is the cheap side, "less likely" the unlikely one
            keys, names = wordnet_keys(word, diminished)
            ant.update(keys)
            pair_names.update(names)
        diminished = word in DIMINISHERS and previous != "at"  # "at least 100 dead"
        previous = word
    own, own_second = own_pair_readings(f" {' '.join(lemmas)} ")
    ant.update(own)
    if tens:
        put("number", _EN_NUMBER_WORDS[tens])
    return _English(ant, pair_names, own, own_second)


class _English(NamedTuple):
    sides: Counter[str]  # WordNet's pair sides and the guards' own, "wn:..." / "ant:..."
    wordnet_pairs: set[str]  # "wn:<pair>" of every WordNet pair a word belongs to
    own: list[str]  # the guards' own pair sides, first reading
    own_second: list[str]  # and second reading
