"""False-hit guards: meaning-changing differences that embeddings barely see.

Sentence embeddings put "Can I cancel my order?" and "Can I not cancel my order?" at cosine
0.98, so before a semantic hit is served we compare what the two queries literally say: negations,
antonyms, numbers, ids, dates, emails, URLs, phone numbers and money amounts. Any difference
rejects the hit; a missed hit only costs one model call, a false one serves a wrong answer.

English is split into words (contractions such as "don't" count as a negation); Chinese is
scanned longest-first against a small lexicon, after removing common words whose characters
merely look like negations or numerals (非常, 未来, 一下...). Word order around relation words and
capitalised names are compared by `cache.guard_structure`. "One" (and "once", "single") is a
weak number: "which one is cheaper" asks what "which is cheaper" asks, so it only counts when
the numbers differ without it too ("one ticket" vs "two tickets").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from types import MappingProxyType
from typing import TypeAlias

from cache.guard_names import names_differ
from cache.guard_structure import order_differs
from cache.lexicons import antonym_sides, unit_words

_Put: TypeAlias = Callable[[str, str], None]
_WEAK = "weak_number"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    # "sign_in/sign_out" -> ("sign in", "sign out")
    pairs = (item.replace("_", " ").split("/") for item in text.split())
    return tuple((left, right) for left, right in pairs)


_EN_NEGATIONS = frozenset(
    _words(
        "not no never without cannot none nobody nothing nowhere nor "
        # contractions typed without the apostrophe
        "dont doesnt didnt cant wont isnt arent wasnt werent havent hasnt hadnt couldnt "
        "wouldnt shouldnt"
    )
)
# A pair differs when the two queries hold different members. Only the marked (negated) side
# of these counts on its own too: "how do I disable X" against "how do I manage X".
_EN_PAIRS = _pairs(
    "enable/disable activate/deactivate lock/unlock subscribe/unsubscribe connect/disconnect "
    "install/uninstall mute/unmute follow/unfollow encrypt/decrypt"
)
# Too common to count on one side alone ("shows up", "before", "more than once", "open an
# account", "my new phone"): only a swap counts.
_EN_SWAP_PAIRS = _pairs(
    "on/off up/down old/new first/last early/late send/receive join/leave cancel/keep "
    "add/remove increase/decrease upgrade/downgrade open/close start/stop allow/block "
    "include/exclude before/after more/less maximum/minimum buy/sell deposit/withdraw "
    "import/export show/hide accept/reject sign_in/sign_out log_in/log_out over/under "
    "above/below at_least/at_most pause/resume approve/deny upload/download higher/lower "
    "private/public"
)
_ZH_NEGATIONS = _words("不要 不能 不会 不用 没有 无法 不 没 别 未 无 非 莫 勿")
_ZH_PAIRS = _pairs(
    "开启/关闭 打开/关闭 启用/禁用 激活/停用 取消/保留 增加/减少 添加/删除 升级/降级 上调/下调 "
    "购买/出售 买入/卖出 存入/取出 存款/取款 充值/提现 显示/隐藏 接受/拒绝 允许/禁止 订阅/退订 "
    "登录/退出 锁定/解锁 导入/导出 上传/下载 开始/停止 之前/之后 以前/以后 最大/最小 最高/最低 "
    "更多/更少 包含/排除 绑定/解绑 收入/支出 暂停/恢复"
)
# Words whose characters would otherwise read as a negation or a numeral.
_ZH_FALSE_FRIENDS = _words(
    "非常 未来 别人 特别 区别 分别 类别 级别 识别 告别 性别 差别 个别 无线 十分 不过 不同 不错 "
    "不少 不久 不管 不论 不仅 并非 除非 莫非 一下 一些 一起 一样 一直 一般 一定 统一 唯一 一旦 "
    "一切 一点 万一 第一次"
)
_EN_NUMBER_WORDS = MappingProxyType(
    {
        w: str(i)
        for i, w in enumerate(
            _words(
                "zero one two three four five six seven eight nine ten eleven twelve thirteen "
                "fourteen fifteen sixteen seventeen eighteen nineteen twenty"
            )
        )
    }
    | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70"}
    | {"eighty": "80", "ninety": "90", "hundred": "100", "thousand": "1000"}
    | {"million": "1000000", "once": "1", "twice": "2", "thrice": "3", "half": "0.5"}
    | {"single": "1", "double": "2", "triple": "3"}
)
_EN_ORDINALS = MappingProxyType(
    {
        w: str(i)
        for i, w in enumerate(
            _words(
                "first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
                "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth "
                "nineteenth twentieth"
            ),
            start=1,
        )
    }
)
_EN_WEAK_NUMBERS = frozenset(_words("one once single first"))
_EN_TENS = frozenset(_words("twenty thirty forty fifty sixty seventy eighty ninety"))
_EN_DIMINISHERS = frozenset(_words("less least"))
_EN_DIGIT_WORDS = frozenset(_words("one two three four five six seven eight nine"))
_EN_TIME_WORDS = frozenset(
    _words(
        "today tomorrow yesterday tonight weekend monday tuesday wednesday thursday friday "
        "saturday sunday january february april june july august september october november "
        "december"
    )
)
_ZH_TIME_WORDS = _words(
    "今天 明天 昨天 后天 前天 今晚 周末 本周 下周 上周 本月 下月 上月 下个月 上个月 今年 明年 去年"
)
_CONTRACTION_BASES = MappingProxyType({"ca": "can", "wo": "will", "sha": "shall"})
# Spellings of one phrase: "login", "log into" and "log in" all mean log in.
_EN_ALIASES = MappingProxyType(
    {"login": "log in", "logon": "log in", "logout": "log out", "logoff": "log out"}
    | {"signin": "sign in", "signout": "sign out", "into": "in"}
    | {"max": "maximum", "min": "minimum"}
)
_CURRENCIES = MappingProxyType(
    dict.fromkeys(_words("$ usd dollar dollars bucks 美元"), "usd")
    | dict.fromkeys(_words("€ eur euro euros 欧元"), "eur")
    | dict.fromkeys(_words("£ gbp pound pounds 英镑"), "gbp")
    | dict.fromkeys(_words("¥ ￥ rmb cny yuan 元 块 块钱 人民币"), "cny")
)
_ZH_DIGITS = MappingProxyType(
    {ch: i for i, ch in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
)
_ZH_UNITS = MappingProxyType({"十": 10, "百": 100, "千": 1000, "万": 10_000})

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
    ("number", re.compile(r"\d+(?:[.,]\d+)*(?:st|nd|rd|th)?")),
)
_NUMBER_WORD = (
    r"(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    r"|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy"
    r"|eighty|ninety)"
)
_AMOUNT_IN_WORDS = re.compile(
    rf"\b({_NUMBER_WORD}(?:[- ]{_NUMBER_WORD})?)\s+(dollars?|bucks|euros?|pounds?|cents?)\b"
)
_AFTER_NUMBER = re.compile(r"\d\s?([a-z]{2,5})\b")
_ORDINAL_SUFFIX = re.compile(r"(?<=\d)(?:st|nd|rd|th)$")
_EN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_ZH_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十百千万]+")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "＇": "'"})


def _zh_lexicon() -> MappingProxyType[str, str]:
    lex = {w: "" for w in _ZH_FALSE_FRIENDS}
    lex.update({w: "neg" for w in _ZH_NEGATIONS})
    for w in _ZH_TIME_WORDS:
        lex[w] = "time"
    for left, right in _ZH_PAIRS:
        lex.setdefault(left, f"ant:{left}/{right}:0")
        lex.setdefault(right, f"ant:{left}/{right}:1")
    lex["取消订阅"] = "ant:订阅/退订:1"  # "cancel the subscription" is the unsubscribe side
    return MappingProxyType(lex)


_ZH_LEXICON = _zh_lexicon()
_ZH_MAX_TERM = max(len(w) for w in _ZH_LEXICON)
_FEATURES_KEPT = 4096  # queries whose guard features stay cached
_ZH_STARTS = frozenset(w[0] for w in _ZH_LEXICON)  # a text with none of these has no term
# Chinese pairs sharing a member (打开/开启 -> 关闭) need both pair ids on that member.
_ZH_SHARED = MappingProxyType(
    {
        w: tuple(f"ant:{a}/{b}:{int(w == b)}" for a, b in _ZH_PAIRS if w in (a, b))
        for w in {w for pair in _ZH_PAIRS for w in pair}
    }
)


def differences(query_a: str, query_b: str) -> list[str]:
    """Return the kinds of meaning-changing differences between two queries.

    Kinds: ``negation``, ``antonym:<a>/<b>``, ``number``, ``unit``, ``id``, ``date``, ``email``,
    ``url``, ``phone``, ``money``, ``order``, ``name``. An empty list means nothing the guards know
    about differs.
    """
    fa, fb = _features(query_a), _features(query_b)
    found: list[str] = []
    for kind in sorted((fa.keys() | fb.keys()) - {_WEAK}):
        if kind == "number" and not _numbers_differ(fa, fb):
            continue
        if kind == "unit":
            if _units_differ(fa.get(kind, Counter()), fb.get(kind, Counter())):
                found.append(kind)
            continue
        if fa.get(kind, Counter()) != fb.get(kind, Counter()):
            found.append(kind)
    found = _antonym_differences(fa, fb, found)
    found += _prefix_antonyms(query_a, query_b)
    if order_differs(query_a, query_b):
        found.append("order")
    if names_differ(query_a, query_b):
        found.append("name")
    return found


# Prefixes that turn a word into its opposite: overweight / underweight, upstairs / downstairs,
# indoor / outdoor, input / output, prewar / postwar.
_OPPOSITE_PREFIXES = (("over", "under"), ("up", "down"), ("in", "out"), ("pre", "post"))
_MIN_STEM = 4


def _prefix_antonyms(query_a: str, query_b: str) -> list[str]:
    words_a, words_b = (
        set(_EN_WORD.findall(query_a.lower())),
        set(_EN_WORD.findall(query_b.lower())),
    )
    only_a, only_b = words_a - words_b, words_b - words_a
    found = []
    for left, right in _OPPOSITE_PREFIXES:
        for one, other in ((only_a, only_b), (only_b, only_a)):
            for word in one:
                stem = word[len(left) :]
                if word.startswith(left) and len(stem) >= _MIN_STEM and right + stem in other:
                    found.append(f"antonym:{left}{stem}/{right}{stem}")
    return found


def _numbers_differ(fa: dict[str, Counter[str]], fb: dict[str, Counter[str]]) -> bool:
    # Weak numbers ("one") count only when the numbers differ without them too.
    strong_a, strong_b = fa.get("number", Counter()), fb.get("number", Counter())
    if strong_a == strong_b:
        return False
    return strong_a + fa.get(_WEAK, Counter()) != strong_b + fb.get(_WEAK, Counter())


def _units_differ(units_a: Counter[str], units_b: Counter[str]) -> bool:
    # Miles against kilometres, minutes per week against hours per week: each query names a
    # unit of one dimension that the other does not. One unit more on one side ("how many
    # hours a day" / "how much a day") or none at all ("how long" / "how many minutes") is not.
    # Mass and volume count as one: "100 ml" / "100 oz" (fluid or not), "cups" / "grams".
    only_a, only_b = units_a.keys() - units_b.keys(), units_b.keys() - units_a.keys()
    dimensions_a = {_dimension(unit) for unit in only_a}
    return any(_dimension(unit) in dimensions_a for unit in only_b)


def _dimension(unit: str) -> str:
    dimension = unit.split("|")[1]
    return "mass" if dimension == "volume" else dimension


def load_lexicons() -> None:
    """Read the generated lexicons (antonyms, units) now: the first lookup that compares two
    questions then does not pay the ~12 ms of reading them."""
    antonym_sides()
    unit_words()


def hit_allowed(query_a: str, query_b: str) -> bool:
    """Whether a semantic hit between the two queries may be served (no differences found)."""
    return not differences(query_a, query_b)


def _antonym_differences(
    fa: dict[str, Counter[str]], fb: dict[str, Counter[str]], found: list[str]
) -> list[str]:
    # Antonym members live under one "ant" key; report per pair, honouring swap-only pairs.
    plain = [kind for kind in found if kind != "ant"]
    if "ant" not in found:
        return plain
    sides_a, sides_b = fa.get("ant", Counter()), fb.get("ant", Counter())
    pairs = {key.rsplit(":", 1)[0] for key in sides_a.keys() | sides_b.keys()}
    for pair in sorted(pairs):
        have_a = (f"{pair}:0" in sides_a, f"{pair}:1" in sides_a)
        have_b = (f"{pair}:0" in sides_b, f"{pair}:1" in sides_b)
        if have_a == have_b:
            continue
        if pair.startswith("wn:"):
            # WordNet's pairs hold common words with many senses ("lost my phone, help me
            # find it"): only one member in one query and the other in the other counts.
            if sum(have_a) == sum(have_b) == 1:
                plain.append("antonym:" + pair.removeprefix("wn:"))
            continue
        left, right = pair.removeprefix("ant:").split("/")
        if not (any(have_a) and any(have_b)):  # one query holds members, the other none
            if (left, right) not in _EN_PAIRS:
                continue  # a swap-only pair: the lexicon's common words and WordNet's
            if not (have_a[1] or have_b[1]):
                continue  # only the unmarked side ("enable") is present, on one side
        plain.append(f"antonym:{left}/{right}")
    return plain


@lru_cache(maxsize=_FEATURES_KEPT)
def _features(text: str) -> dict[str, Counter[str]]:
    """What each guard reads off one query; cached, as a lookup compares its query with several
    candidates and a cached question is compared again on every lookup that finds it. The
    result is shared: callers only read it."""
    feats: dict[str, Counter[str]] = {}

    def put(kind: str, value: str) -> None:
        feats.setdefault(kind, Counter())[value] += 1

    rest = _AMOUNT_IN_WORDS.sub(_amount_in_digits, text.lower().translate(_APOSTROPHES))
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
                value = _ORDINAL_SUFFIX.sub("", value)
            put(kind, value)
        rest = pattern.sub(" ", rest)
    rest = _scan_chinese(rest, put)
    for numeral in _ZH_NUMERAL.findall(rest):
        put("number", str(_zh_number(numeral)))
    _scan_english(_EN_WORD.findall(rest), put)
    return feats


def _amount_in_digits(match: re.Match[str]) -> str:
    # "twenty dollars" -> "20 dollars", "twelve pound" -> "12 pound": the money pattern then
    # reads both spellings alike.
    words = match.group(1).replace("-", " ").split()
    value = sum(int(_EN_NUMBER_WORDS[w]) for w in words)
    return f"{value} {match.group(2)}"


def _money_key(value: str) -> str:
    # "$20", "20 dollars" and "20.00 usd" are the same amount.
    amount = re.search(r"\d+(?:\.\d+)?", value)
    number = float(amount.group()) if amount else 0.0
    unit = re.sub(r"[\d.]", "", value)
    return f"{number:g} {_CURRENCIES.get(unit, unit)}"


def _scan_chinese(text: str, put: _Put) -> str:
    """Count lexicon terms longest-first; return the text with every matched term blanked."""
    if _ZH_STARTS.isdisjoint(text):  # most English queries: no per-character walk
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        for size in range(min(_ZH_MAX_TERM, len(text) - i), 0, -1):
            term = text[i : i + size]
            kind = _ZH_LEXICON.get(term)
            if kind is None:
                continue
            if kind == "neg":
                put("negation", "neg")
            elif kind == "time":
                put("date", term)
            elif kind.startswith("ant:"):
                for pair_side in _ZH_SHARED.get(term, (kind,)):
                    put("ant", pair_side)
            out.append(" ")
            i += size
            break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _scan_english(words: list[str], put: _Put) -> None:
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
            word = _CONTRACTION_BASES.get(word[:-3], word[:-3])
        if word in _EN_NEGATIONS:
            put("negation", "neg")
        number = _EN_NUMBER_WORDS.get(word) or _EN_ORDINALS.get(word)
        if number is not None and not tens:
            put(_WEAK if word in _EN_WEAK_NUMBERS else "number", number)
        if word in _EN_TIME_WORDS:
            put("date", word[:3])
        lemmas.append(_EN_ALIASES.get(word) or _lemma(word))
        unit = unit_names.get(word)
        if unit is not None:
            put("unit", "|".join(unit))
        for pair, side in wordnet_sides.get(word, ()):
            # "least expensive" is the cheap side, "less likely" the unlikely one
            put("ant", f"wn:{pair}:{1 - side if diminished else side}")
        diminished = word in _EN_DIMINISHERS and previous != "at"  # "at least 100 dead"
        previous = word
    padded = f" {' '.join(lemmas)} "
    for left, right in (*_EN_PAIRS, *_EN_SWAP_PAIRS):
        for side, member in enumerate((left, right)):
            if f" {member} " in padded:
                put("ant", f"ant:{left}/{right}:{side}")
    if tens:
        put("number", _EN_NUMBER_WORDS[tens])


def _lemma(word: str) -> str:
    # Just enough inflection for the antonym lexicon: enabled -> enable, stopped -> stop.
    if word in _EN_VOCAB:
        return word
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix):
            stem = word[: -len(suffix)] + repl
            for guess in (stem, stem + "e", stem[:-1]):
                if guess in _EN_VOCAB:
                    return guess
    return word


def lexicon_pairs() -> tuple[tuple[str, str], ...]:
    """The English antonym pairs written here (``bench.wordnet_antonyms`` leaves them out)."""
    return tuple(
        (left.replace(" ", "_"), right.replace(" ", "_"))
        for left, right in (*_EN_PAIRS, *_EN_SWAP_PAIRS)
    )


_EN_VOCAB = frozenset(
    w for pair in (*_EN_PAIRS, *_EN_SWAP_PAIRS) for side in pair for w in side.split()
)


def _zh_number(numeral: str) -> int:
    # 两千三百零五 -> 2305; plain digit strings (一〇〇一) read positionally.
    if all(ch in _ZH_DIGITS for ch in numeral):
        return int("".join(str(_ZH_DIGITS[ch]) for ch in numeral))
    total, section, digit = 0, 0, 0
    for ch in numeral:
        if ch in _ZH_DIGITS:
            digit = _ZH_DIGITS[ch]
        elif ch == "万":
            total += (section + digit) * 10_000
            section, digit = 0, 0
        else:
            section += (digit or 1) * _ZH_UNITS[ch]
            digit = 0
    return total + section + digit
