"""Prompt-injection flags: heuristic rules, in English and Chinese, over inputs and tool results.

Heuristics, not a classifier: they catch the common phrasings (override the instructions,
reveal the system prompt, role-play a rule-free persona, fake a system or developer turn,
text in a tool result that addresses the model) and miss paraphrases. Each rule has a stable
id, used in logs, metrics and the ``x-frugal-injection`` header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Rule:
    """One heuristic: ``id`` names it, ``pattern`` finds it; ``tool_only`` rules apply to
    tool results only (text that a user may legitimately write to a model)."""

    id: str
    pattern: re.Pattern[str]
    tool_only: bool = False


def _rule(id: str, pattern: str, *, tool_only: bool = False) -> Rule:
    return Rule(id, re.compile(pattern, re.IGNORECASE), tool_only)


_ANY: Final = r"(?:all|any|the|your|my|these|those|prior|previous|above|earlier|preceding)"
RULES: Final = (
    _rule(
        "ignore_instructions",
        rf"\b(?:ignore|disregard|forget|override|bypass|skip)\s+(?:{_ANY}\s+){{0,3}}"
        r"(?:instructions?|prompts?|rules?|directions?|guidelines?|context|messages?)\b",
    ),
    _rule(
        "ignore_instructions",
        r"(?:忽略|无视|忘记|忘掉|不要理会|跳过)(?:之前|以上|上面|前面|先前|所有|全部|你的)*的?"
        r"(?:所有|全部)?的?(?:指令|指示|提示词?|规则|设定|要求|命令)",
    ),
    _rule(
        "reveal_system_prompt",
        r"\b(?:reveal|show|print|repeat|output|tell me|display|leak|dump)\s+(?:me\s+)?"
        r"(?:(?:your|the)\s+(?:(?:full|entire|original|hidden|initial|secret)\s+)*"
        r"(?:system\s+prompt|system\s+message|initial\s+prompt)"
        r"|your\s+(?:(?:full|entire|original|hidden|initial|secret)\s+)*(?:instructions|prompt)"
        r"|the\s+(?:full\s+|entire\s+)?(?:original|hidden|initial|secret)\s+"
        r"(?:instructions|prompt))\b",
    ),
    _rule(
        "reveal_system_prompt",
        r"(?:显示|输出|告诉我|打印|重复|泄露|透露|给我看)(?:一下)?(?:你的|你)?"
        r"(?:完整的|原始的|隐藏的)?(?:系统提示词?|系统指令|初始指令|提示词|系统设定)",
    ),
    _rule(
        "roleplay_jailbreak",
        r"\b(?:you\s+are\s+now|from\s+now\s+on,?\s+you\s+are|pretend\s+(?:to\s+be|you\s+are)|"
        r"act\s+as)\s+(?:an?\s+)?(?:DAN|unrestricted|unfiltered|uncensored|jailbroken|evil|"
        r"developer\s+mode|AI\s+without\s+(?:any\s+)?(?:rules|restrictions|limits))",
    ),
    _rule("roleplay_jailbreak", r"\b(?:DAN|developer)\s+mode\s+(?:enabled|on|activated)\b"),
    _rule(
        "roleplay_jailbreak",
        r"(?:你现在是|从现在开始你是|假装你是|扮演)(?:一个)?(?:没有任何?|不受|无)"
        r"(?:限制|约束|规则|审查)",
    ),
    _rule(
        "fake_turn",
        r"(?:^|\n)\s*(?:#{1,3}\s*)?(?:system|developer)\s*(?:message|prompt)?\s*:\s*\S"
        r"|<\|im_start\|>\s*system|\[/?INST\]|<<SYS>>",
    ),
    _rule("fake_turn", r"(?:^|\n)\s*(?:系统|系统消息|系统提示)\s*[:：]"),
    _rule(
        "tool_addresses_model",
        r"\b(?:(?:AI|assistant|model|LLM|chatbot)s?\s*[,:]\s*(?:you\s+must|please|now)|"
        r"(?:note|instructions?)\s+(?:to|for)\s+(?:the\s+)?(?:AI|assistant|model|LLM)|"
        r"when\s+(?:the\s+)?(?:AI|assistant|model)\s+reads\s+this)\b",
        tool_only=True,
    ),
    _rule(
        "tool_addresses_model",
        r"(?:致|给|告诉)(?:AI|助手|模型|大模型)|(?:AI|助手|模型)(?:请|必须|应该)(?:立即|马上)?",
        tool_only=True,
    ),
    _rule(
        "exfiltration",
        r"\b(?:send|post|forward|email|upload)\s+(?:all\s+|the\s+)?(?:the\s+)?"
        r"(?:conversation|chat\s+history|user(?:'s)?\s+data|credentials|api\s+keys?|passwords?)"
        r"\s+to\b",
        tool_only=True,
    ),
)


class InjectionScanner:
    """Matches texts against `RULES` (or the rules given)."""

    def __init__(self, rules: tuple[Rule, ...] = RULES) -> None:
        self._rules = rules

    def scan(self, text: str, *, source: str = "input") -> tuple[str, ...]:
        """The ids of the rules ``text`` matches (each once, in rule order); empty when none.
        ``source`` is ``input`` or ``tool``; tool-only rules apply to ``tool`` texts."""
        if not text:
            return ()
        hits: list[str] = []
        for rule in self._rules:
            if rule.id in hits or (rule.tool_only and source != "tool"):
                continue
            if rule.pattern.search(text):
                hits.append(rule.id)
        return tuple(hits)
