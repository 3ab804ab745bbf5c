"""Redaction round trips, whole and streamed (placeholders and values split across chunks)."""

from __future__ import annotations

from collections import Counter

import pytest

from agent.guard import KINDS, Redactor, Vault, build_detectors
from agent.guard.streaming import STEP, WINDOW, PlaceholderRestorer, StreamRedactor

TEXT = (
    "Mail john.doe@example.com or call +1 415-555-2671; card 4111 1111 1111 1111, "
    "IBAN GB82 WEST 1234 5698 7654 32, SSN 536-90-4399, 身份证11010519491231002X. "
    "Again: john.doe@example.com."
)
RAW = ("john.doe@example.com", "415-555-2671", "4111 1111 1111 1111", "GB82", "536-90-4399")


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(build_detectors(KINDS, phone_regions=["US"]))


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class TestVault:
    def test_round_trip_and_one_placeholder_per_value(self, redactor: Redactor) -> None:
        vault, counts = Vault(), Counter[str]()
        out = redactor.redact(TEXT, vault, counts)
        assert not any(raw in out for raw in RAW)
        assert out.count("<EMAIL_1>") == 2 and "<EMAIL_2>" not in out
        assert counts == {"email": 2, "phone": 1, "card": 1, "iban": 1, "national_id": 2}
        assert vault.restore(out) == TEXT

    def test_numbering_continues_past_an_earlier_turn(self, redactor: Redactor) -> None:
        vault = Vault()
        vault.reserve("earlier: <EMAIL_1> and <EMAIL_2>")
        out = redactor.redact("now x@example.com", vault, Counter())
        assert out == "now <EMAIL_3>"
        assert vault.restore("<EMAIL_1> <EMAIL_3>") == "<EMAIL_1> x@example.com"

    def test_unnumbered_vault_never_restores(self, redactor: Redactor) -> None:
        vault = Vault(numbered=False)
        out = redactor.redact("x@example.com", vault, Counter())
        assert out == "[EMAIL_REDACTED]"
        assert vault.restore(out) == out

    def test_text_without_personal_data_is_the_same_object(self, redactor: Redactor) -> None:
        text = "What is your refund policy for order 12345?"
        assert redactor.redact(text, Vault(), Counter()) is text


class TestStreams:
    @pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
    def test_placeholders_split_across_chunks_are_restored(
        self, redactor: Redactor, size: int
    ) -> None:
        vault = Vault()
        redacted = redactor.redact(TEXT, vault, Counter())
        restorer = PlaceholderRestorer(vault)
        out = [restorer.feed(piece) for piece in pieces(redacted, size)]
        out.append(restorer.flush())
        assert "".join(out) == TEXT
        assert not any("<EMAIL" in piece for piece in out)

    def test_a_lone_angle_bracket_is_not_held_forever(self) -> None:
        restorer = PlaceholderRestorer(Vault())
        assert restorer.feed("a <") == "a "
        assert restorer.feed("b and more text") == "<b and more text"
        assert restorer.feed("x <EMAIL_9> y") == "x <EMAIL_9> y"  # not this vault's

    @pytest.mark.parametrize("size", [1, 3, 8, 40])
    def test_output_redaction_sees_values_split_across_chunks(
        self, redactor: Redactor, size: int
    ) -> None:
        counts: Counter[str] = Counter()
        stream = StreamRedactor(redactor, Vault(numbered=False), counts)
        out = [stream.feed(piece) for piece in pieces(TEXT, size)]
        out.append(stream.flush())
        joined = "".join(out)
        whole = redactor.redact(TEXT, Vault(numbered=False), Counter())
        assert joined == whole
        assert not any(raw in joined for raw in RAW)
        assert counts["email"] == 2

    def test_holds_back_at_most_the_window(self, redactor: Redactor) -> None:
        stream = StreamRedactor(redactor, Vault(numbered=False), Counter())
        text = "word " * 40
        sent = "".join(stream.feed(piece) for piece in pieces(text, 4))
        assert len(text) - len(sent) <= WINDOW + STEP + 5
        assert sent + stream.flush() == text
