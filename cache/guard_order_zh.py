"""Order in Chinese, written without spaces (the English order checks: `cache.guard_structure`).

Around each relation marker (到, 比, 换成, 转给...) the CJK characters up to the nearest
boundary (punctuation, 从, another marker; at most `_ZH_REACH`) on either side are its
arguments, compared by shared character pairs (single characters for one-character
arguments): 从北京到上海 / 从上海到北京, 我比他高 / 他比我高. Words whose characters merely
contain a marker (到底, 比较, 去年...) are removed first.
"""

from __future__ import annotations

import re
from functools import lru_cache

_KEPT = 4096  # queries whose relations stay cached


# Relation markers by the relation they state: 北京到上海 and 从北京去上海 point the same way.
_ZH_MARKER_KIND = {
    **dict.fromkeys(["到", "至", "往", "去", "飞往", "飞"], "towards"),
    **dict.fromkeys(["兑换成", "转换成", "换成", "转成"], "becomes"),
    **dict.fromkeys(["转到", "转给", "汇给", "发给", "给"], "gives"),
    "比": "than",
    "对": "versus",
}
# Longest first, so 兑换成 is read before 换成.
_ZH_MARKERS = sorted(_ZH_MARKER_KIND, key=len, reverse=True)
_ZH_MARKER = re.compile("|".join(_ZH_MARKERS))
# Words that hold a marker's character without being a relation.
_ZH_NOT_MARKERS = re.compile(
    "到底|到期|到账|收到|得到|达到|找到|遇到|看到|听到|想到|直到|至少|至今|以至|甚至|往往|以往|"
    "去年|过去|失去|比较|比如|好比|对于|对不起|不对|对方|核对|给予|飞机|起飞|飞行|飞船"
)
_ZH_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A run of CJK characters: punctuation, spaces, Latin letters and digits end it. 从 opens a
# relation (从北京到上海), so `_zh_relations` splits a run there too.
_ZH_SPAN = re.compile(f"[{_ZH_CHARS}]+")
_ZH_REACH = 4


def zh_order_differs(query_a: str, query_b: str) -> bool:
    relations_b = _zh_relations(query_b)
    if not relations_b:
        return False
    return any(
        kind_a == kind_b and _zh_overlap(left_a, right_b) and _zh_overlap(right_a, left_b)
        for kind_a, left_a, right_a in _zh_relations(query_a)
        for kind_b, left_b, right_b in relations_b
    )


@lru_cache(maxsize=_KEPT)
def _zh_relations(text: str) -> tuple[tuple[str, str, str], ...]:
    found = []
    for span in _ZH_SPAN.findall(_ZH_NOT_MARKERS.sub(" ", text)):
        for clause in span.split("从"):
            parts = _ZH_MARKER.split(clause)
            markers = _ZH_MARKER.findall(clause)
            for i, marker in enumerate(markers):
                left, right = parts[i][-_ZH_REACH:], parts[i + 1][:_ZH_REACH]
                if left and right:
                    found.append((_ZH_MARKER_KIND[marker], left, right))
    return tuple(found)


def _zh_overlap(one: str, other: str) -> bool:
    if len(one) == 1 or len(other) == 1:
        return bool(set(one) & set(other))
    return bool(_bigrams(one) & _bigrams(other))


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}
