"""Build ``cache/data/units_en.tsv``: English unit words and what they measure, from pint.

Development-time only; the gateway reads the TSV and needs no pint. Needs pint
(``pip install pint``). Run:

    python -m bench.pint_units

Each line: ``word<TAB>unit<TAB>dimension<TAB>name|symbol``: every single-word name and alias
of pint's units of length, area, volume, mass, time, temperature and speed, the plurals of
lower-case names, the metric prefixes of the metre, gram, litre, byte and bit ("kilometres",
"gigabytes"), and the symbols of two letters or more ("km", "lb", "GB"; the guards count a
symbol only after a number).
Words the guards read otherwise are left out: English function words
("in", "are", "a"), "min" (the guards' "minimum") and ordinals ("second" stays a number word:
"a second coat" is not a unit).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

# Symbols English also writes with an "s" ("180 lbs", "5 kgs"), read only after a number.
_PLURAL_SYMBOLS = ("lb", "kg", "oz", "km", "cm", "mm", "ml", "mg", "gal", "qt")
OUT = Path(__file__).resolve().parent.parent / "cache" / "data" / "units_en.tsv"
_DIMENSIONS = {
    "[length]": "length",
    "[length] ** 2": "area",
    "[length] ** 3": "volume",
    "[mass]": "mass",
    "[time]": "time",
    "[temperature]": "temperature",
    "[length] / [time]": "speed",
}
_PREFIXED = ("meter", "metre", "gram", "liter", "litre", "byte", "bit")
_PREFIXES = ("kilo", "centi", "milli", "micro", "mega", "giga", "tera", "nano", "deci")
_PREFIX_SYMBOLS = {"kilo": "k", "centi": "c", "milli": "m", "mega": "M", "giga": "G", "tera": "T"}
_LEFT_OUT = frozenset(
    [
        "in",
        "at",
        "a",
        "an",
        "are",
        "as",
        "do",
        "is",
        "it",
        "on",
        "or",
        "to",
        "us",
        "min",
        "second",
        "fifth",
        "quarter",
        "section",
        "shake",
        "point",
    ]
)


def _plurals(name: str) -> set[str]:
    if name.endswith(("s", "x", "ch", "sh")):
        return {name, name + "es"}
    if name.endswith("y") and name[-2:-1] not in "aeiou":
        return {name, name[:-1] + "ies"}
    return {name, name + "s"}


def main() -> None:
    import pint

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    registry: Any = pint.UnitRegistry()
    names = list(registry._units)  # pint has no public list of its units
    names += [
        p + base
        for base in _PREFIXED
        for p in _PREFIXES
        if base not in ("byte", "bit") or p in ("kilo", "mega", "giga", "tera")
    ]
    names += [_PREFIX_SYMBOLS[p] + s for p in _PREFIX_SYMBOLS for s in ("m", "g", "l", "L")]
    # Lower-cased, "mb" is a megabyte, never a millibyte.
    names += [_PREFIX_SYMBOLS[p] + "B" for p in _PREFIX_SYMBOLS if p != "milli"]
    words: dict[str, tuple[str, str, str]] = {}
    for name in names:
        try:
            unit = registry.parse_units(name)
            dimension = _DIMENSIONS.get(str(unit.dimensionality))
            if str(unit).endswith(("bit", "byte")):  # pint counts information as a number
                dimension = "information"
        except (pint.errors.PintError, ValueError, KeyError):
            continue
        if dimension is None:
            continue
        definition = registry._units.get(str(unit))
        # A symbol that is also a name ("acre", "week") is a name; only names take plurals.
        spelled = {definition.symbol or "": "symbol"} if definition is not None else {}
        if definition is not None:
            spelled |= dict.fromkeys(definition.aliases, "alias")
            spelled[definition.name] = "name"
        spelled[name] = spelled.get(name, "name")
        for spelling, kind in spelled.items():
            if len(spelling) < 2 or not spelling.isalpha() or not spelling.isascii():
                continue
            if spelling.lower() in _LEFT_OUT:
                continue
            # Names and aliases take plurals ("metres"), unless they are plurals already
            # ("feet", "inches").
            plural = spelling.endswith("s") or spelling.endswith("feet")
            wordy = kind != "symbol" and spelling.islower() and not plural
            forms = _plurals(spelling) if wordy else {spelling}
            for word in forms:
                words.setdefault(word.lower(), (str(unit), dimension, kind))
    for symbol in _PLURAL_SYMBOLS:
        if symbol in words:
            words.setdefault(symbol + "s", words[symbol])
    lines = [
        f"{w}\t{unit}\t{dim}\t{'symbol' if kind == 'symbol' else 'name'}\n"
        for w, (unit, dim, kind) in sorted(words.items())
    ]
    args.out.write_text("".join(lines))
    print(f"{len(lines)} unit words -> {args.out}")


if __name__ == "__main__":
    main()
