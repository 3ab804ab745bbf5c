"""Build ``cache/data/compounds_en.tsv``: WordNet's nouns of two words (security deposit, common
cold, fly fishing, brown rice), for the detail guard (`cache.guard_detail`).

Development-time only (nltk over Debian's ``wordnet-base``, as ``bench.wordnet_places``). Run:

    python -m bench.wordnet_compounds [--wordnet /usr/share/wordnet]

One line a first word: the word, a tab, then every second word it takes, space-separated. Words
are lower case, letters only, in the guards' singular form (`cache.guard_structure.bare`), so
"piano lessons" is found as "piano lesson".
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from bench.wordnet_source import wordnet_and_output
from cache.guard_words import bare

OUT = Path(__file__).resolve().parent.parent / "cache" / "data" / "compounds_en.tsv"


def main() -> None:
    wn, out = wordnet_and_output(__doc__.split("\n")[0], OUT)
    seconds: dict[str, set[str]] = defaultdict(set)
    for synset in wn.all_synsets("n"):
        for lemma in synset.lemmas():
            words = re.split("[_-]", lemma.name().lower())
            if len(words) == 2 and all(w.isalpha() and w.isascii() for w in words):
                seconds[bare(words[0])].add(bare(words[1]))
    out.write_text(
        "".join(f"{first}\t{' '.join(sorted(seconds[first]))}\n" for first in sorted(seconds))
    )
    print(f"{sum(map(len, seconds.values()))} compounds, {len(seconds)} first words -> {out}")


if __name__ == "__main__":
    main()
