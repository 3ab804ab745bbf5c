"""WordNet 3.0 as Debian ships it (``apt-get install wordnet-base``), opened through nltk, for
the scripts that build the guards' lexicons (``bench.wordnet_antonyms``, ``bench.wordnet_related``,
``bench.wordnet_places``). Development-time only: ``pip install nltk lemminflect``."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

_LEXNAMES = [
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
]


def _wordnet(database: Path):  # type: ignore[no-untyped-def]
    # nltk reads WordNet from <data path>/corpora/wordnet; Debian's copy lacks two small files
    # nltk opens: lexnames (the standard 45 lexicographer files) and index.sense (not needed
    # for antonyms).
    import nltk

    data = Path(tempfile.mkdtemp())
    root = data / "corpora" / "wordnet"
    shutil.copytree(database, root)
    (root / "lexnames").write_text(
        "".join(f"{i:02d}\t{name}\t0\n" for i, name in enumerate(_LEXNAMES))
    )
    (root / "index.sense").touch()
    nltk.data.path.insert(0, str(data))
    from nltk.corpus import wordnet

    return wordnet


def wordnet_and_output(description: str, default_out: Path) -> tuple[Any, Path]:
    """Parse ``--wordnet DIR`` and ``--out FILE``; return the opened WordNet and the output."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    return _wordnet(args.wordnet), args.out
