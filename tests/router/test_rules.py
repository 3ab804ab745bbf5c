"""RuleRouter: turns, length and keyword rules, their boundaries and their reasons."""

from __future__ import annotations

import pytest

from agent.types import Message
from router import DEFAULT_TECHNICAL_KEYWORDS, Router, RuleRouter

pytestmark = pytest.mark.anyio


def make_router(**kwargs: object) -> RuleRouter:
    return RuleRouter(cheap_model="mini", strong_model="big", **kwargs)  # type: ignore[arg-type]


def user(text: str) -> list[Message]:
    return [Message("user", text)]


def conversation(user_turns: int, last: str = "thanks") -> list[Message]:
    messages = [Message("system", "You are a support agent.")]
    for i in range(user_turns - 1):
        messages += [Message("user", f"question {i}"), Message("assistant", f"answer {i}")]
    return [*messages, Message("user", last)]


async def test_rule_router_implements_router_protocol() -> None:
    assert isinstance(make_router(), Router)


async def test_simple_query_goes_cheap_with_default_reason() -> None:
    decision = await make_router().route(user("Where is my order?"))
    assert (decision.tier, decision.model, decision.reason) == (
        "cheap",
        "mini",
        "default: simple query",
    )


class TestTurns:
    async def test_five_user_turns_stay_cheap(self) -> None:
        decision = await make_router().route(conversation(5))
        assert decision.tier == "cheap"

    async def test_six_user_turns_go_strong_and_reason_counts_them(self) -> None:
        decision = await make_router().route(conversation(6))
        assert (decision.tier, decision.model, decision.reason) == ("strong", "big", "turns 6 > 5")

    async def test_only_user_messages_count_as_turns(self) -> None:
        # 1 user message drowned in assistant, tool and system chatter is still one turn.
        messages = [Message("system", "s")]
        messages += [Message("assistant", "a"), Message("tool", "t")] * 10
        messages.append(Message("user", "hi"))
        assert (await make_router().route(messages)).tier == "cheap"

    async def test_turns_folded_into_a_summary_still_count(self) -> None:
        # A long thread whose early turns were summarised away stays on the strong model.
        decision = await make_router().route(conversation(2), earlier_turns=4)
        assert (decision.tier, decision.reason) == ("strong", "turns 6 > 5")
        assert (await make_router().route(conversation(2), earlier_turns=3)).tier == "cheap"

    async def test_max_turns_is_configurable(self) -> None:
        decision = await make_router(max_turns=2).route(conversation(3))
        assert decision.reason == "turns 3 > 2"

    async def test_turns_rule_is_checked_before_length_and_keywords(self) -> None:
        decision = await make_router().route(conversation(7, last="deploy " + "x" * 300))
        assert decision.reason == "turns 7 > 5"


class TestLength:
    async def test_exactly_max_chars_stays_cheap(self) -> None:
        assert (await make_router().route(user("a" * 200))).tier == "cheap"

    async def test_one_more_than_max_chars_goes_strong(self) -> None:
        decision = await make_router().route(user("a" * 201))
        assert (decision.tier, decision.reason) == ("strong", "length 201 > 200 chars")

    async def test_chinese_characters_count_once_each_not_as_utf8_bytes(self) -> None:
        text = "请" * 200  # 600 bytes of UTF-8
        assert len(text.encode()) == 600
        assert (await make_router().route(user(text))).tier == "cheap"
        decision = await make_router().route(user(text + "问"))
        assert decision.reason == "length 201 > 200 chars"

    async def test_surrounding_whitespace_is_not_counted(self) -> None:
        assert (await make_router().route(user("  " + "a" * 200 + "\n\n"))).tier == "cheap"

    async def test_only_the_last_user_message_is_measured(self) -> None:
        messages = [Message("user", "a" * 500), Message("assistant", "b" * 500)]
        messages.append(Message("user", "ok thanks"))
        assert (await make_router().route(messages)).tier == "cheap"

    async def test_length_is_checked_before_keywords(self) -> None:
        decision = await make_router().route(user("error " * 40))
        assert decision.reason == "length 239 > 200 chars"


class TestKeywords:
    @pytest.mark.parametrize(
        ("text", "keyword"),
        [
            ("how do I deploy the worker?", "deploy"),
            ("I get an ERROR when saving", "error"),
            ("Exception in thread main", "exception"),
            ("does the api support pagination?", "API"),
            ("is there an Api for orders", "API"),
            ("my code fails on startup", "code"),
            ("what does error code 42 mean", "error"),  # earliest keyword in the text wins
            ("here is the stack  trace", "stack trace"),
            ("the request timed out", "timed out"),
            ("add a webhook for refunds", "webhook"),
            ("python sdk install", "SDK"),
            ("I got HTTP 500 from checkout", "HTTP 500"),
        ],
    )
    async def test_english_keyword_fires_case_insensitively(self, text: str, keyword: str) -> None:
        decision = await make_router().route(user(text))
        assert (decision.tier, decision.model) == ("strong", "big")
        assert decision.reason == f"technical keyword: {keyword}"

    @pytest.mark.parametrize(
        ("text", "keyword"),
        [
            ("部署失败了", "部署"),
            ("怎么配置邮箱", "配置"),
            ("登录时报错", "报错"),
            ("没有权限访问这个页面", "权限"),
            ("接口返回异常", "接口"),  # 接口 comes before 异常 in the text
            ("请求超时", "超时"),
            ("我想集成你们的支付", "集成"),
        ],
    )
    async def test_chinese_keyword_fires_as_substring(self, text: str, keyword: str) -> None:
        decision = await make_router().route(user(text))
        assert decision.reason == f"technical keyword: {keyword}"

    async def test_english_keyword_next_to_chinese_text_fires(self) -> None:
        decision = await make_router().route(user("怎么用API查询订单"))
        assert decision.reason == "technical keyword: API"

    @pytest.mark.parametrize(
        ("text", "keyword"),
        [("the APIs are slow", "API"), ("so many errors today", "error"), ("Webhooks?", "webhook")],
    )
    async def test_plurals_fire(self, text: str, keyword: str) -> None:
        assert (await make_router().route(user(text))).reason == f"technical keyword: {keyword}"

    @pytest.mark.parametrize(
        "text",
        [
            "the barcode on the box is smudged",
            "how do I decode the tracking number?",
            "is the codebook back in stock?",
            "is the terror movie in stock?",
            "my rapid delivery was late",
            "can I get a refund of 500 dollars?",  # a bare 500 is an amount, not a server error
        ],
    )
    async def test_keywords_inside_other_words_do_not_fire(self, text: str) -> None:
        assert (await make_router().route(user(text))).reason == "default: simple query"

    @pytest.mark.parametrize(
        "text",
        [
            "my promo code doesn't work",
            "where do I enter a Discount Code?",
            "do you have coupon codes for students?",
            "I didn't get the verification code",
            "what zip code should I use for shipping?",
        ],
    )
    async def test_benign_code_phrases_do_not_fire(self, text: str) -> None:
        assert (await make_router().route(user(text))).tier == "cheap"

    async def test_other_keyword_next_to_a_benign_phrase_still_fires(self) -> None:
        decision = await make_router().route(user("promo code gives an error at checkout"))
        assert decision.reason == "technical keyword: error"

    async def test_benign_phrases_can_be_disabled(self) -> None:
        decision = await make_router(benign_phrases=()).route(user("my promo code"))
        assert decision.reason == "technical keyword: code"

    async def test_custom_keyword_list_replaces_the_default(self) -> None:
        router = make_router(keywords=["invoice", "发票"])
        assert (await router.route(user("deploy"))).tier == "cheap"
        assert (await router.route(user("Invoice please"))).reason == "technical keyword: invoice"
        assert (await router.route(user("开发票"))).reason == "technical keyword: 发票"

    async def test_only_the_last_user_message_is_scanned(self) -> None:
        messages = [Message("user", "deploy failed"), Message("assistant", "error details")]
        messages.append(Message("user", "thanks, solved"))
        assert (await make_router().route(messages)).tier == "cheap"

    async def test_default_list_keeps_the_seed_keywords(self) -> None:
        seed = {"配置", "错误", "报错", "exception", "error", "debug", "deploy", "部署", "权限"}
        seed |= {"permission", "API", "代码", "code", "integrate", "集成"}
        assert seed <= set(DEFAULT_TECHNICAL_KEYWORDS)


async def test_no_user_message_goes_cheap() -> None:
    decision = await make_router().route([Message("system", "deploy everything")])
    assert decision.reason == "default: simple query"


def test_negative_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_turns"):
        make_router(max_turns=-1)
