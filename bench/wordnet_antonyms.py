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

from pathlib import Path

from bench.wordnet_source import wordnet_and_output

_UPOS = {"a": "ADJ", "s": "ADJ", "v": "VERB", "n": "NOUN", "r": "ADV"}
OUT = Path(__file__).resolve().parent.parent / "cache" / "data" / "antonyms_en.tsv"


def _forms(lemma: str, pos: str) -> list[str]:
    from lemminflect import getAllInflections

    forms = {lemma}
    for inflected in getAllInflections(lemma, upos=_UPOS[pos]).values():
        forms.update(inflected)
    return [lemma, *sorted(f.lower() for f in forms - {lemma})]


def main() -> None:
    wn, out = wordnet_and_output(__doc__.split("\n")[0], OUT)
    from cache.guards import lexicon_pairs

    known = {frozenset(pair) for pair in lexicon_pairs()}
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
    out.write_text("".join(lines))
    print(f"{len(lines)} pairs -> {out}")


if __name__ == "__main__":
    main()
