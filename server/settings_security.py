"""The ``[security]`` section: personal data redaction and prompt-injection flags.

Everything is off by default (transparency: the provider then receives the caller's exact
bytes). Checked here so a bad value names its ``FRUGAL_SECURITY_*`` variable at start-up.
"""

from __future__ import annotations

from typing import Literal

from agent.guard import KINDS, NATIONAL_IDS, GuardPolicy, build_guard
from server.settings_base import Section as _Section
from server.settings_base import check as _check


class SecuritySettings(_Section, frozen=True, forbid_unknown_fields=True):
    """What the guard does (see README, "Security").

    ``redact_input``: personal data in the messages is replaced by placeholders before the
    provider, the caches and the logs. ``reversible``: the caller's own values are put back
    where the answer repeats a placeholder (needs ``redact_input``). ``redact_output``:
    personal data in the model's answer is redacted before the caller, caches and logs.
    ``injection``: ``off``, ``flag`` (log and count) or ``block`` (400 for an input, a tool
    result withheld from the model).
    """

    redact_input: bool = False
    reversible: bool = False
    redact_output: bool = False
    redact_kinds: tuple[str, ...] = KINDS
    phone_regions: tuple[str, ...] = ("US",)
    national_ids: tuple[str, ...] = tuple(NATIONAL_IDS)
    injection: Literal["off", "flag", "block"] = "off"
    scan_tool_results: bool = True

    def __post_init__(self) -> None:
        _check(
            set(self.redact_kinds) <= set(KINDS),
            "redact_kinds",
            f"a list of: {', '.join(KINDS)}",
        )
        _check(
            set(self.national_ids) <= set(NATIONAL_IDS),
            "national_ids",
            f"a list of: {', '.join(NATIONAL_IDS)}",
        )
        _check(
            not self.reversible or self.redact_input,
            "reversible",
            "false unless redact_input is true (only redacted input has values to restore)",
        )
        try:
            build_guard(GuardPolicy(), phone_regions=self.phone_regions)
        except ValueError:
            _check(False, "phone_regions", "ISO 3166 region codes such as US, GB, CN")

    @property
    def policy(self) -> GuardPolicy:
        """The guard's policy for these settings."""
        return GuardPolicy(
            redact_input=self.redact_input,
            reversible=self.reversible,
            redact_output=self.redact_output,
            injection=self.injection,
            scan_tool_results=self.scan_tool_results,
        )
