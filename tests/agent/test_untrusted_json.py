"""Decoding caller JSON: nesting deeper than the interpreter allows is malformed JSON (a
`msgspec.DecodeError`), not a `RecursionError` that escapes every handler as a 500."""

from __future__ import annotations

import msgspec
import pytest

from agent import untrusted_json
from agent.batch.lines import parse_input, provider_results

DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


class TestDecode:
    @pytest.mark.parametrize("raw", [DEEP_ARRAY, DEEP_OBJECT])
    def test_too_deep_nesting_is_a_decode_error(self, raw: bytes) -> None:
        with pytest.raises(msgspec.DecodeError, match="nested too deeply"):
            untrusted_json.decode(raw, untrusted_json.ANY)

    def test_typed_decoder_skipping_a_deep_unknown_field_is_a_decode_error(self) -> None:
        class View(msgspec.Struct):
            model: str

        raw = b'{"model": "m", "extra": ' + DEEP_ARRAY + b"}"
        with pytest.raises(msgspec.DecodeError):
            untrusted_json.decode(raw, msgspec.json.Decoder(View))

    def test_ordinary_json_decodes_and_schema_mismatch_stays_a_validation_error(self) -> None:
        assert untrusted_json.decode(b'{"a": [[1]]}', untrusted_json.ANY) == {"a": [[1]]}
        with pytest.raises(msgspec.ValidationError):
            untrusted_json.decode(b'"x"', msgspec.json.Decoder(int))


class TestBatchLines:
    def test_a_too_deep_input_line_is_reported_not_raised(self) -> None:
        line = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": '
        lines, problems = parse_input(line + DEEP_OBJECT + b"}", "/v1/chat/completions")
        assert lines == []
        assert problems == ["line 1: not valid JSON"]

    def test_a_too_deep_provider_result_line_is_skipped(self) -> None:
        good = b'{"custom_id": "b", "response": {"status_code": 200, "body": {}}}'
        assert provider_results(DEEP_ARRAY + b"\n" + good) == {"b": (200, {})}
