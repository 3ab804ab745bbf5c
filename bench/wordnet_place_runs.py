"""Build ``cache/data/place_runs_en.tsv``: the names of places that take more than one word,
from WordNet 3.0 (new york, north korea, west virginia, new mexico).

Development-time only (nltk over Debian's ``wordnet-base``, as ``bench.wordnet_places``). Run:

    python -m bench.wordnet_place_runs [--wordnet /usr/share/wordnet]

One name a line, lower case, words of letters only. The names guard (`cache.guard_names`) lets
"Samsung Galaxy S21" / "Galaxy S21" pass as one name qualified, but not "New York" / "York".
"""

from __future__ import annotations

from pathlib import Path

from bench.wordnet_places import place_name
from bench.wordnet_source import wordnet_and_output

OUT = Path(__file__).resolve().parent.parent / "cache" / "data" / "place_runs_en.tsv"


def main() -> None:
    wn, out = wordnet_and_output(__doc__.split("\n")[0], OUT)
    names = {
        name
        for synset in wn.all_synsets("n")
        if synset.lexname() == "noun.location"
        for name in map(place_name, synset.lemmas())
        if name and " " in name
    }
    out.write_text("".join(f"{name}\n" for name in sorted(names)))
    print(f"{len(names)} names -> {out}")


if __name__ == "__main__":
    main()
