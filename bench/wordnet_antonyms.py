"""Build ``cache/data/antonyms_en.tsv``: the English antonym pairs of WordNet 3.0, inflected.

Development-time only; the gateway reads the TSV and needs neither library. Needs nltk and
lemminflect (``pip install nltk lemminflect``) and the WordNet 3.0 database as Debian ships it
(``apt-get install wordnet-base``: /usr/share/wordnet). Run:

    python -m bench.wordnet_antonyms [--wordnet /usr/share/wordnet]

Each line: ``lemma_a<TAB>lemma_b<TAB>forms of a<TAB>forms of b`` (forms space-separated, the
lemma first). Besides WordNet's direct pairs, its indirect ones for adjectives: the words of a
head synset, or of one of its satellites, against the words of the opposite head (big / small,
risky / safe); and for verbs and nouns, an antonym against the other words of its synset when
that synset is one of their two commonest senses (start / end, decline / accept). Kept: single
words of 3+ letters, both members (no hyphens: the guards split words there); pairs already in
the guards' own lexicon are left to it.
"""

from __future__ import annotations

from pathlib import Path

from bench.wordnet_source import wordnet_and_output

_UPOS = {"a": "ADJ", "s": "ADJ", "v": "VERB", "n": "NOUN", "r": "ADV"}
OUT = Path(__file__).resolve().parent.parent / "cache" / "data" / "antonyms_en.tsv"


def _forms(lemma: str, poses: set[str]) -> list[str]:
    # Every inflection the pair's parts of speech give: "big" is an adverb too ("think big").
    from lemminflect import getAllInflections

    forms = {lemma}
    for pos in poses:
        for inflected in getAllInflections(lemma, upos=_UPOS[pos]).values():
            forms.update(inflected)
    return [lemma, *sorted(f.lower() for f in forms - {lemma})]


def _indirect(wn) -> dict[tuple[str, str], str]:  # type: ignore[no-untyped-def]
    """WordNet's indirect antonyms of adjectives: a head synset's words against its opposite
    head's words (big / small, large / little: only large / small and big / little are
    direct), and a satellite's words against the opposite head's (risky / safe, huge /
    small). Two satellites are not paired: they are too loose."""
    found: dict[tuple[str, str], str] = {}
    for head in wn.all_synsets("a"):
        if head.pos() != "a":
            continue
        satellites = [s for s in head.similar_tos() if s.pos() == "s"]
        for lemma in head.lemmas():
            for opposite in lemma.antonyms():
                other = opposite.synset()
                mine = {w.name().lower() for s in [head, *satellites] for w in s.lemmas()}
                theirs = {w.name().lower() for w in other.lemmas()}
                for a in mine:
                    for b in theirs:
                        if a != b and (a + b).isalpha() and min(len(a), len(b)) >= 3:
                            found.setdefault((min(a, b), max(a, b)), "a")
    return found


_COMMONEST = 2


def _siblings(wn) -> dict[tuple[str, str], set[str]]:  # type: ignore[no-untyped-def]
    """A verb's or noun's antonym against the other words of its synset: "begin" / "end" makes
    "start" / "end" (start is begin's synonym), "refuse" / "accept" makes "decline" /
    "accept"."""
    found: dict[tuple[str, str], set[str]] = {}
    for synset in wn.all_synsets():
        if synset.pos() not in ("v", "n"):
            continue
        names = {w.name().lower() for w in synset.lemmas()}
        for lemma in synset.lemmas():
            for opposite in lemma.antonyms():
                b = opposite.name().lower()
                for a in names - {b}:
                    # only where the synset is one of the word's two commonest senses: "get"
                    # is "begin" only in its 30th ("get going"), so "get" / "end" is no pair
                    if synset not in wn.synsets(a, synset.pos())[:_COMMONEST]:
                        continue
                    if (a + b).isalpha() and min(len(a), len(b)) >= 3:
                        found.setdefault((min(a, b), max(a, b)), set()).add(synset.pos())
    return found


def main() -> None:
    wn, out = wordnet_and_output(__doc__.split("\n")[0], OUT)
    from cache.guard_antonyms import lexicon_pairs

    known = {frozenset(pair) for pair in lexicon_pairs()}
    pairs: dict[tuple[str, str], set[str]] = {}
    for synset in wn.all_synsets():
        for lemma in synset.lemmas():
            for opposite in lemma.antonyms():
                a, b = lemma.name().lower(), opposite.name().lower()
                if a == b or not (a + b).isalpha() or min(len(a), len(b)) < 3:
                    continue
                if frozenset((a, b)) in known:
                    continue
                pairs.setdefault((min(a, b), max(a, b)), set()).add(synset.pos())
    for (a, b), poses in _siblings(wn).items():
        if frozenset((a, b)) not in known:
            pairs.setdefault((a, b), set()).update(poses)
    for (a, b), pos in _indirect(wn).items():
        if frozenset((a, b)) not in known:
            pairs.setdefault((a, b), set()).add(pos)
    lines = [
        f"{a}\t{b}\t{' '.join(_forms(a, poses))}\t{' '.join(_forms(b, poses))}\n"
        for (a, b), poses in sorted(pairs.items())
    ]
    out.write_text("".join(lines))
    print(f"{len(lines)} pairs -> {out}")


if __name__ == "__main__":
    main()
