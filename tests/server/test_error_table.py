"""The README's error table agrees with `server/errors.py` and with what ``/chat`` answers."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from server.errors import STATUS_BY_CODE, APIError, error_response
from tests.support.cost_http import fast_settings
from tests.support.gateway import run_gateway

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.anyio


def readme_table() -> dict[str, set[int]]:
    """code -> statuses of its row in "Errors and limits"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Errors and limits", 1)[1].split("\n### ", 1)[0]
    table: dict[str, set[int]] = {}
    for line in section.splitlines():
        row = re.match(r"\| ([\d /]+) \| (.*) \|$", line)
        if row is None:
            continue
        statuses = {int(s) for s in re.findall(r"\d+", row.group(1))}
        # Only the codes named in the row; backquoted setting names are upper-case.
        for code in re.findall(r"`([a-z_]+)`", row.group(2)):
            table[code] = statuses
    return table


def test_every_code_is_in_the_readme_with_its_status() -> None:
    table = readme_table()
    wrong = {
        code: (status, sorted(table.get(code, ())))
        for code, status in STATUS_BY_CODE.items()
        if status not in table.get(code, set())
    }
    assert wrong == {}
    assert set(table) - set(STATUS_BY_CODE) == set()


CHAT_REFUSALS = [
    ("{bad", "invalid_json"),
    ('{"message": 5}', "invalid_request"),
    ('{"message": ""}', "invalid_request"),
    ("{}", "invalid_request"),
    ('{"message": "hi", "cache": "sometimes"}', "invalid_request"),
    ('{"message": "hi", "colour": "red"}', "unknown_field"),
    ('{"message": "hi", "model": "no-such-model"}', "model_not_found"),
    ('{"message": "hi", "model": "bad name!"}', "invalid_model"),
]


async def test_chat_answers_what_the_readme_says() -> None:
    table = readme_table()
    seen: dict[str, tuple[str, int]] = {}
    async with run_gateway(fast_settings()) as gw, aiohttp.ClientSession() as http:
        for body, _ in CHAT_REFUSALS:
            async with http.post(
                f"{gw.base_url}/chat", data=body, headers={"content-type": "application/json"}
            ) as response:
                seen[body] = ((await response.json())["error"]["code"], response.status)
    assert {body: code for body, (code, _) in seen.items()} == dict(CHAT_REFUSALS)
    assert all(status in table[code] for code, status in seen.values()), seen


@pytest.mark.parametrize("code", [*STATUS_BY_CODE, "a_code_nobody_mapped"])
def test_an_api_errors_status_is_the_status_it_is_answered_with(code: str) -> None:
    # Defect 15 of #16: APIError.status said 400 where the answer was a 500.
    assert APIError(code, "m").status == error_response(code, "m").status_code
