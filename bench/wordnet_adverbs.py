"""Build ``cache/data/adverbs_en.tsv``: the single English words WordNet 3.0 knows as adverbs.

Development-time only (nltk over Debian's ``wordnet-base``, as ``bench.wordnet_doers``). Run:

    python -m bench.wordnet_adverbs [--wordnet /usr/share/wordnet]

One word a line, lower case: every adverb lemma of letters only, 2+ long (quickly, naturally,
permanently, overnight, fast), so the scope guard (`cache.guard_scope`) can tell "how do I get
rid of dandruff naturally" from "how do I get rid of dandruff".
"""

from __future__ import annotations

from pathlib import Path

from bench.wordnet_source import wordnet_and_output

OUT = Path(__file__).resolve().parent.parent / "cache" / "data" / "adverbs_en.tsv"


def main() -> None:
    wn, out = wordnet_and_output(__doc__.split("\n")[0], OUT)
    words = {
        lemma.name()
        for synset in wn.all_synsets("r")
        for lemma in synset.lemmas()
        if lemma.name().isalpha() and lemma.name().islower() and len(lemma.name()) > 1
    }
    out.write_text("".join(f"{word}\n" for word in sorted(words)))
    print(f"{len(words)} words -> {out}")


if __name__ == "__main__":
    main()
