"""Each detector against valid and invalid values (checksums, formats, boundaries)."""

from __future__ import annotations

import pytest

from agent.guard.base import Span
from agent.guard.detectors import (
    CardDetector,
    EmailDetector,
    IbanDetector,
    NationalIdDetector,
    PhoneDetector,
    SecretDetector,
    build_detectors,
    resolve,
)


def found(detector: object, text: str) -> list[str]:
    spans = detector.find(text)  # type: ignore[attr-defined]
    return [text[s.start : s.end] for s in sorted(spans)]


class TestCards:
    @pytest.mark.parametrize(
        "card",
        [
            "4111111111111111",  # Visa test number
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",  # Mastercard
            "378282246310005",  # Amex, 15 digits
            "6011111111111117",  # Discover
            "2223003122003222",  # Mastercard 2-series
        ],
    )
    def test_luhn_valid_numbers_are_found(self, card: str) -> None:
        assert found(CardDetector(), f"my card is {card}, thanks") == [card]

    @pytest.mark.parametrize(
        "text",
        [
            "4111111111111112",  # Luhn check digit wrong
            "4111 1111 1111 1113",
            "1234567812345670",  # Luhn-valid but no issuer starts with 1
            "order 12345678",  # too short
            "41111111111111110000000",  # too long
            "tracking 9400111899223197428490",
        ],
    )
    def test_invalid_numbers_are_not(self, text: str) -> None:
        assert found(CardDetector(), text) == []


class TestIban:
    @pytest.mark.parametrize(
        "value",
        [
            "GB82 WEST 1234 5698 7654 32",
            "GB82WEST12345698765432",
            "DE89 3704 0044 0532 0130 00",
            "FR1420041010050500013M02606",
        ],
    )
    def test_valid_checksums_are_found(self, value: str) -> None:
        assert found(IbanDetector(), f"pay to {value} THANKS") == [value]

    def test_a_bad_checksum_is_not(self) -> None:
        assert found(IbanDetector(), "pay to GB83 WEST 1234 5698 7654 32") == []


class TestPhones:
    @pytest.mark.parametrize(
        ("text", "number"),
        [
            ("call +1 415-555-2671 now", "+1 415-555-2671"),
            ("call (415) 555-2671 now", "(415) 555-2671"),
            ("call 415.555.2671 now", "415.555.2671"),
            ("ring +44 20 7946 0958 today", "+44 20 7946 0958"),
            ("手机+86 138 1234 5678。", "+86 138 1234 5678"),
        ],
    )
    def test_valid_numbers_in_several_formats(self, text: str, number: str) -> None:
        assert found(PhoneDetector(["US"]), text) == [number]

    def test_national_format_needs_its_region(self) -> None:
        text = "手机13812345678。"
        assert found(PhoneDetector(["US"]), text) == []
        assert found(PhoneDetector(["US", "CN"]), text) == ["13812345678"]

    @pytest.mark.parametrize("text", ["version 1.2.3", "in 2024-05-06", "costs 1234.56 dollars"])
    def test_non_numbers_are_not(self, text: str) -> None:
        assert found(PhoneDetector(["US"]), text) == []


class TestEmail:
    def test_addresses_are_found_even_next_to_chinese(self) -> None:
        text = "write to a.b+c@mail.example.co.uk or 邮箱bob@example.com谢谢"
        assert found(EmailDetector(), text) == ["a.b+c@mail.example.co.uk", "bob@example.com"]

    def test_not_an_address(self) -> None:
        assert found(EmailDetector(), "@mention and user@localhost and a@b") == []


class TestNationalIds:
    def test_us_ssn_with_valid_area(self) -> None:
        assert found(NationalIdDetector(["us_ssn"]), "SSN 536-90-4399.") == ["536-90-4399"]
        assert found(NationalIdDetector(["us_ssn"]), "SSN 000-12-3456 or 666-12-3456") == []

    def test_chinese_resident_id_checksum_and_birth_date(self) -> None:
        detector = NationalIdDetector(["cn_ric"])
        assert found(detector, "身份证号11010519491231002X，") == ["11010519491231002X"]
        assert found(detector, "身份证号110105194912310021") == []  # wrong check digit
        assert found(detector, "身份证号110105194913310029") == []  # month 13

    def test_other_schemes(self) -> None:
        detector = NationalIdDetector(["in_aadhaar", "br_cpf", "es_dni"])
        text = "Aadhaar 2341 2341 2346, CPF 390.533.447-05, DNI 54362315K"
        assert found(detector, text) == ["2341 2341 2346", "390.533.447-05", "54362315K"]
        assert found(detector, "CPF 390.533.447-06, DNI 54362315Z") == []

    def test_unknown_scheme_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="xx_id"):
            NationalIdDetector(["xx_id"])


def test_secrets_keep_their_label() -> None:
    text = "password: hunter22 and api_key=abcd1234efgh and sk-abcdefghijklmnopqrstuvwx"
    assert found(SecretDetector(), text) == [
        "hunter22",
        "abcd1234efgh",
        "sk-abcdefghijklmnopqrstuvwx",
    ]


def test_overlaps_go_to_the_more_specific_kind() -> None:
    spans = [Span(0, 16, "phone"), Span(0, 16, "card"), Span(20, 30, "email")]
    assert resolve(spans) == [Span(0, 16, "card"), Span(20, 30, "email")]


def test_build_refuses_unknown_kinds_and_regions() -> None:
    with pytest.raises(ValueError, match="passport"):
        build_detectors(["passport"])
    with pytest.raises(ValueError, match="XX"):
        build_detectors(["phone"], phone_regions=["XX"])
