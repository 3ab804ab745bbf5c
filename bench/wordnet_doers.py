"""Build ``cache/data/doers_en.tsv``: English nouns that name someone who can do something
(a person, an animal or a group), from WordNet 3.0.

Development-time only (nltk over Debian's ``wordnet-base``, with lemminflect for plurals, as
``bench.wordnet_verbs``). Run:

    python -m bench.wordnet_doers [--wordnet /usr/share/wordnet]

One word a line, lower case, with its plural: a noun whose most frequent sense is in WordNet's
``noun.person``, ``noun.animal`` or ``noun.group`` file (landlord, employer, son, dog,
company), so "my landlord" can be told from "my phone" when it replaces "I" as the one who
acts (`cache.guard_people`). Kept: single words of letters, 2+ long.
"""

from __future__ import annotations

from pathlib import Path

from bench.wordnet_source import wordnet_and_output

OUT = Path(__file__).resolve().parent.parent / "cache" / "data" / "doers_en.tsv"
_DOERS = frozenset({"noun.person", "noun.animal", "noun.group"})


def main() -> None:
    from lemminflect import getInflection

    wn, out = wordnet_and_output(__doc__.split("\n")[0], OUT)
    words: set[str] = set()
    for synset in wn.all_synsets("n"):
        for lemma in synset.lemmas():
            word = lemma.name()
            if not (word.isalpha() and word.islower() and len(word) > 1) or word in words:
                continue
            if wn.synsets(word, "n")[0].lexname() not in _DOERS:
                continue
            words.add(word)
            words.update(f.lower() for f in getInflection(word, tag="NNS") if f.isalpha())
    out.write_text("".join(f"{word}\n" for word in sorted(words)))
    print(f"{len(words)} words -> {out}")


if __name__ == "__main__":
    main()
