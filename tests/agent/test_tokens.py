from __future__ import annotations

import hashlib

import pytest

from agent import tokens
from agent.types import Message


class TestEncodings:
    def test_bundled_files_match_official_sha256(self) -> None:
        for name, (expected, _, _) in tokens._SPECS.items():
            data = (tokens.DATA_DIR / f"{name}.tiktoken").read_bytes()
            assert hashlib.sha256(data).hexdigest() == expected

    @pytest.mark.parametrize(
        ("name", "text", "ids"),
        [
            ("cl100k_base", "hello world", [15339, 1917]),
            ("cl100k_base", "tiktoken is great!", [83, 1609, 5963, 374, 2294, 0]),
            ("o200k_base", "hello world", [24912, 2375]),
            ("o200k_base", "tiktoken is great!", [83, 8251, 2488, 382, 2212, 0]),
        ],
    )
    def test_known_token_ids(self, name: str, text: str, ids: list[int]) -> None:
        assert tokens.get_encoding(name).encode_ordinary(text) == ids

    def test_tampered_file_is_refused(self, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        (tmp_path / "cl100k_base.tiktoken").write_bytes(b"aGVsbG8= 0\n")
        monkeypatch.setattr(tokens, "DATA_DIR", tmp_path)
        tokens.get_encoding.cache_clear()
        try:
            with pytest.raises(tokens.EncodingIntegrityError, match="sha256"):
                tokens.get_encoding("cl100k_base")
        finally:
            monkeypatch.undo()
            tokens.get_encoding.cache_clear()

    def test_unknown_encoding(self) -> None:
        with pytest.raises(KeyError):
            tokens.get_encoding("p50k_base")


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1-mini", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("claude-sonnet-4-6", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
    ],
)
def test_encoding_by_model(model: str, encoding: str) -> None:
    assert tokens.encoding_name_for_model(model) == encoding


class TestMessageCounts:
    def test_single_user_message(self) -> None:
        # 3 framing + "user" (1) + "Hello!" (2) + 3 reply primer
        assert tokens.count_message_tokens([Message("user", "Hello!")], "gpt-4o") == 9

    def test_system_prompt_is_counted_as_a_message(self) -> None:
        user = [Message("user", "Hello!")]
        with_system = tokens.count_message_tokens(user, "gpt-4o", system="Be brief.")
        # 3 framing + "system" (1) + "Be brief." (3)
        assert with_system - tokens.count_message_tokens(user, "gpt-4o") == 7

    def test_counts_grow_with_each_message(self) -> None:
        one = [Message("user", "Where is my order?")]
        two = [*one, Message("assistant", "It shipped yesterday.")]
        assert tokens.count_message_tokens(two, "gpt-4o-mini") > tokens.count_message_tokens(
            one, "gpt-4o-mini"
        )

    def test_chinese_text(self) -> None:
        assert tokens.count_text_tokens("如何开启两步验证", "gpt-4o") == 5
