"""The generated lexicons are read as the guards expect (tables under cache/data)."""

from __future__ import annotations

from cache.lexicons import (
    RelatedWords,
    VerbForm,
    VerbForms,
    antonym_sides,
    place_names,
    related_words,
    unit_words,
    verb_forms,
)


def test_related_words_search_the_table_in_place() -> None:
    table = RelatedWords(b"apple\tn1 n2\tn9\nbake\t\t\nzebra\tn5\t\n")
    assert table.senses("apple") == (frozenset({"n1", "n2"}), frozenset({"n9"}))
    assert table.senses("bake") == (frozenset(), frozenset())  # known, a verb only
    assert table.senses("zebra") == (frozenset({"n5"}), frozenset())  # the last line
    for unknown in ("aardvark", "apples", "b", "zzz", ""):
        assert table.senses(unknown) is None


def test_an_empty_table_knows_no_word() -> None:
    assert RelatedWords(b"").senses("apple") is None


def test_wordnet_relates_synonyms_and_cluster_members_but_not_kinds_of_one_thing() -> None:
    table = related_words()
    young, little, savings, economy = (
        table.senses(w) for w in ("young", "little", "savings", "economy")
    )
    assert young and little and savings and economy
    assert young.senses & little.senses  # one adjective cluster
    assert not savings.senses & (economy.senses | economy.neighbours)
    showed, shown = table.senses("showed"), table.senses("shown")
    assert showed and shown and showed.senses & shown.senses  # forms of one verb
    assert table.senses("widen") == (frozenset(), frozenset())


def test_antonyms_and_units_load() -> None:
    assert any(key == "raise/lower" or key == "lower/raise" for key, _ in antonym_sides()["raise"])
    assert unit_words().symbols["km"].dimension == "length"


def test_places_hold_adjectives_and_other_names_but_no_ambiguous_ones() -> None:
    places = place_names()
    assert ("spain",) in places["spanish"]
    assert ("united", "states") in places["american"] and ("us",) in places["american"]
    assert ("netherlands",) in places["holland"]
    # WordNet's "China" is also Taiwan: "Chinese" takes that one name, none of Taiwan's others
    assert places["chinese"] == (("china",),)
    # WordNet's "Russian" pertains to the Soviet Union: it takes only the name it starts like
    assert places["russian"] == (("russia",),)


def test_verb_forms_give_lemmas_and_participles() -> None:
    forms = verb_forms()
    assert forms.form("beaten") == VerbForm(frozenset({"beat"}), True)
    assert forms.form("paid") == VerbForm(frozenset({"pay"}), True)  # irregular
    killed = forms.form("killed")
    assert killed and killed.participle  # regular: the past tense is the participle too
    found = forms.form("found")
    assert found and found.lemmas == {"find", "found"}
    kills = forms.form("kills")
    assert kills and not kills.participle
    assert forms.form("giraffe") is None


def test_verb_forms_search_the_table_in_place() -> None:
    table = VerbForms(b"ate\teat\t0\nbeaten\tbeat\t1\nfound\tfind,found\t1\n")
    assert table.form("found") == VerbForm(frozenset({"find", "found"}), True)
    assert table.form("ate") == VerbForm(frozenset({"eat"}), False)
    assert table.form("eaten") is None
