"""Build ``cache/data/verb_forms_en.tsv``: every inflected form of WordNet 3.0's English verbs,
with its lemmas and whether it is a past participle.

Development-time only; the gateway reads the TSV and needs neither library. Needs nltk and
lemminflect (``pip install nltk lemminflect``) and WordNet as Debian ships it (``apt-get install
wordnet-base``). Run:

    python -m bench.wordnet_verbs [--wordnet /usr/share/wordnet]

Each line: ``form<TAB>lemmas<TAB>participle``, lemmas comma-separated (``found`` is both
``find`` and ``found``), participle ``1`` when the form is a past participle of one of them
(``beaten``, ``paid``, ``sued``). The voice guard (`cache.guard_voice`) reads it to tell "was
Brazil beaten by Germany" is "did Germany beat Brazil". Kept: single lower-case words of 2+
letters.
"""

from __future__ import annotations

from pathlib import Path

from bench.wordnet_source import wordnet_and_output

OUT = Path(__file__).resolve().parent.parent / "cache" / "data" / "verb_forms_en.tsv"


def main() -> None:
    from lemminflect import getAllInflections, getInflection

    wn, out = wordnet_and_output(__doc__.split("\n")[0], OUT)
    lemmas: dict[str, set[str]] = {}
    participles: set[str] = set()
    for synset in wn.all_synsets("v"):
        for lemma in synset.lemmas():
            word = lemma.name()
            if not (word.isalpha() and word.islower() and len(word) > 1):
                continue
            lemmas.setdefault(word, set()).add(word)
            for tag, forms in getAllInflections(word, upos="VERB").items():
                for form in (f.lower() for f in forms if f.isalpha()):
                    lemmas.setdefault(form, set()).add(word)
                    if tag == "VBN":
                        participles.add(form)
            # A regular verb's participle is listed only as its past tense ("killed").
            participles.update(f.lower() for f in getInflection(word, tag="VBN") if f.isalpha())
    lines = [
        f"{form}\t{','.join(sorted(lemmas[form]))}\t{int(form in participles)}\n"
        for form in sorted(lemmas)
    ]
    out.write_text("".join(lines))
    print(f"{len(lines)} forms -> {out}")


if __name__ == "__main__":
    main()
