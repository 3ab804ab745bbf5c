"""The guards' Chinese: negations, antonyms, time words and numerals in text without spaces.

`scan_chinese` reads lexicon terms longest-first (so 不同 is not a negation and 一起 not a
number), reports each to the caller's ``put`` as the English scanner does, and also reads
Chinese numerals (两千三百零五 = 2305); it returns the text with every term blanked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import MappingProxyType
from typing import TypeAlias

Put: TypeAlias = Callable[[str, str], None]


def word_list(text: str) -> tuple[str, ...]:
    """Space-separated words."""
    return tuple(text.split())


def pair_list(text: str) -> tuple[tuple[str, str], ...]:
    """Space-separated ``left/right`` pairs; "sign_in/sign_out" -> ("sign in", "sign out")."""
    pairs = (item.replace("_", " ").split("/") for item in text.split())
    return tuple((left, right) for left, right in pairs)


_ZH_NEGATIONS = word_list("不要 不能 不会 不用 没有 无法 不 没 别 未 无 非 莫 勿")
_ZH_PAIRS = pair_list(
    "开启/关闭 打开/关闭 启用/禁用 激活/停用 取消/保留 增加/减少 添加/删除 升级/降级 上调/下调 "
    "购买/出售 买入/卖出 存入/取出 存款/取款 充值/提现 显示/隐藏 接受/拒绝 允许/禁止 订阅/退订 "
    "登录/退出 锁定/解锁 导入/导出 上传/下载 开始/停止 之前/之后 以前/以后 最大/最小 最高/最低 "
    "更多/更少 包含/排除 绑定/解绑 收入/支出 暂停/恢复"
)
# Words whose characters would otherwise read as a negation or a numeral.
_ZH_FALSE_FRIENDS = word_list(
    "非常 未来 别人 特别 区别 分别 类别 级别 识别 告别 性别 差别 个别 无线 十分 不过 不同 不错 "
    "不少 不久 不管 不论 不仅 并非 除非 莫非 一下 一些 一起 一样 一直 一般 一定 统一 唯一 一旦 "
    "一切 一点 万一 第一次"
)
_ZH_TIME_WORDS = word_list(
    "今天 明天 昨天 后天 前天 今晚 周末 本周 下周 上周 本月 下月 上月 下个月 上个月 今年 明年 去年"
)
_ZH_DIGITS = MappingProxyType(
    {ch: i for i, ch in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
)
_ZH_UNITS = MappingProxyType({"十": 10, "百": 100, "千": 1000, "万": 10_000})
_ZH_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十百千万]+")


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
_ZH_STARTS = frozenset(w[0] for w in _ZH_LEXICON)  # a text with none of these has no term
# Chinese pairs sharing a member (打开/开启 -> 关闭) need both pair ids on that member.
_ZH_SHARED = MappingProxyType(
    {
        w: tuple(f"ant:{a}/{b}:{int(w == b)}" for a, b in _ZH_PAIRS if w in (a, b))
        for w in {w for pair in _ZH_PAIRS for w in pair}
    }
)


def scan_chinese(text: str, put: Put) -> str:
    """Report the Chinese terms and numerals of ``text`` to ``put``; return the text with
    every term blanked."""
    if _ZH_STARTS.isdisjoint(text) and not _ZH_NUMERAL.search(text):
        return text  # most English queries: no per-character walk
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
    rest = "".join(out)
    for numeral in _ZH_NUMERAL.findall(rest):
        put("number", str(_zh_number(numeral)))
    return rest


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
