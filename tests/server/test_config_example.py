"""`config.example.toml` goes through the real loader, so it cannot rot: it names every
section and setting, its values are the defaults, and its commented examples are valid."""

from __future__ import annotations

import re
from pathlib import Path

from server.config import iter_fields, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"
_LINE = re.compile(r"^(# )?(\w+) = ")


def fields_by_section() -> dict[str, set[str]]:
    sections: dict[str, set[str]] = {}
    for section, field, _ in iter_fields():
        sections.setdefault(section, set()).add(field)
    return sections


def test_every_section_and_setting_is_in_the_example() -> None:
    text = EXAMPLE.read_text()
    missing = [
        f"{section}.{field}"
        for section, fields in fields_by_section().items()
        for field in fields
        if not re.search(rf"^\[{section}\]$(?:(?!^\[).)*?^(# )?{field} = ", text, re.M | re.S)
    ]
    assert missing == []
    for toml_only in ("registry", "agents"):
        assert f"# [{toml_only}]" in text


def test_the_example_loads_and_holds_the_defaults() -> None:
    from_file = load_settings({"FRUGAL_CONFIG": str(EXAMPLE)})
    assert from_file == load_settings({}), "update config.example.toml with the new default"


def test_its_commented_examples_are_valid(tmp_path: Path) -> None:
    known = fields_by_section()
    section: str | None = None
    lines = []
    uncommented = 0
    for line in EXAMPLE.read_text().splitlines():
        header = re.match(r"^\[(\w+)\]$", line)
        if header:
            section = header.group(1)
        match = _LINE.match(line)
        if match and match.group(1) and section and match.group(2) in known[section]:
            # Only the settings of the section above; the [registry]/[agents] sketches stay.
            line, uncommented = line[2:], uncommented + 1
        lines.append(line)
    assert uncommented >= 20
    # An example may repeat a setting whose default is also written out: keep the example.
    seen: dict[tuple[str | None, str], int] = {}
    section = None
    for index, line in enumerate(lines):
        header = re.match(r"^\[(\w+)\]$", line)
        section = header.group(1) if header else section
        match = _LINE.match(line)
        if match and not match.group(1):
            key = (section, match.group(2))
            if key in seen:
                lines[index] = f"# {line}"
            seen.setdefault(key, index)
    variant = tmp_path / "all-examples.toml"
    variant.write_text("\n".join(lines) + "\n")
    settings = load_settings({"FRUGAL_CONFIG": str(variant)})
    assert settings.budget.global_hourly_usd_micros == 5_000_000
    assert settings.auth.api_keys and settings.server.admin_key
