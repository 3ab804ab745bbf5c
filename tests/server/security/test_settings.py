"""``[security]`` settings: off by default, and bad values stop start-up naming the variable."""

from __future__ import annotations

import pytest

from server.config import ConfigError, load_settings


def test_everything_is_off_by_default() -> None:
    security = load_settings({}).security
    assert not security.policy.active


def test_values_are_converted() -> None:
    security = load_settings(
        {
            "FRUGAL_SECURITY_REDACT_INPUT": "true",
            "FRUGAL_SECURITY_REVERSIBLE": "true",
            "FRUGAL_SECURITY_REDACT_KINDS": "email, card",
            "FRUGAL_SECURITY_PHONE_REGIONS": "US,CN",
            "FRUGAL_SECURITY_INJECTION": "block",
        }
    ).security
    assert security.redact_kinds == ("email", "card")
    assert security.phone_regions == ("US", "CN")
    assert security.policy.reversible and security.policy.injection == "block"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FRUGAL_SECURITY_REDACT_KINDS": "email,passport"}, "FRUGAL_SECURITY_REDACT_KINDS"),
        ({"FRUGAL_SECURITY_NATIONAL_IDS": "us_ssn,xx"}, "FRUGAL_SECURITY_NATIONAL_IDS"),
        ({"FRUGAL_SECURITY_PHONE_REGIONS": "US,XX"}, "FRUGAL_SECURITY_PHONE_REGIONS"),
        ({"FRUGAL_SECURITY_INJECTION": "maybe"}, "FRUGAL_SECURITY_INJECTION"),
        ({"FRUGAL_SECURITY_REVERSIBLE": "true"}, "FRUGAL_SECURITY_REVERSIBLE"),
        ({"FRUGAL_SECURITY_REDACT_INPUT": "sometimes"}, "FRUGAL_SECURITY_REDACT_INPUT"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(env)
