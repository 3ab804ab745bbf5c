"""Build ``cache/data/antonyms_en.tsv``: the English antonym pairs of WordNet 3.0, inflected.

Development-time only; the gateway reads the TSV and needs neither library. Needs nltk and
lemminflect (``pip install nltk lemminflect``) and the WordNet 3.0 database as Debian ships it
(``apt-get install wordnet-base``: /usr/share/wordnet). Run:

    python -m bench.wordnet_antonyms [--wordnet /usr/share/wordnet]

Each line: ``lemma_a<TAB>lemma_b<TAB>forms of a<TAB>forms of b`` (forms space-separated, the
lemma first). Kept: single words of 3+ letters, both members (no hyphens: the guards split
words there); pairs already in the guards' own lexicon are left to it.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

_UPOS = {"a": "ADJ", "s": "ADJ", "v": "VERB", "n": "NOUN", "r": "ADV"}
OUT = Path(__file__).resolve().parent.parent / "cache" / "data" / "antonyms_en.tsv"


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


def _forms(lemma: str, pos: str) -> list[str]:
    from lemminflect import getAllInflections

    forms = {lemma}
    for inflected in getAllInflections(lemma, upos=_UPOS[pos]).values():
        forms.update(inflected)
    return [lemma, *sorted(f.lower() for f in forms - {lemma})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    from cache.guards import lexicon_pairs

    known = {frozenset(pair) for pair in lexicon_pairs()}
    wn = _wordnet(args.wordnet)
    pairs: dict[tuple[str, str], str] = {}
    for synset in wn.all_synsets():
        for lemma in synset.lemmas():
            for opposite in lemma.antonyms():
                a, b = lemma.name().lower(), opposite.name().lower()
                if a == b or not (a + b).isalpha() or min(len(a), len(b)) < 3:
                    continue
                if frozenset((a, b)) in known:
                    continue
                pairs.setdefault((min(a, b), max(a, b)), synset.pos())
    lines = [
        f"{a}\t{b}\t{' '.join(_forms(a, pos))}\t{' '.join(_forms(b, pos))}\n"
        for (a, b), pos in sorted(pairs.items())
    ]
    args.out.write_text("".join(lines))
    print(f"{len(lines)} pairs -> {args.out}")


if __name__ == "__main__":
    main()
