"""The offline local provider: deterministic, and right on cases a person can check."""

import numpy as np

from dwc_resources.ai_local import STOPWORDS, entities, sentiment
from dwc_resources.embedding import HashedEmbedder, local_embedder
from dwc_resources.semantic import ZeroShot, key_phrases, label_text, near_duplicate_pairs, split_sentences, summarize

ARTICLE = (
    "The port of Rotterdam opened a fully electric container terminal on Monday. "
    "The terminal cost about 400 million euros, shared between public and private investors. "
    "Officials expect the electric terminal to cut emissions at the port by a third. "
    "Critics pointed to delays and asked for independent audits of the budget. "
    "Local businesses expect 2,000 new jobs at the port over the next five years."
)


def test_summary_is_extractive_ordered_and_about_the_document():
    e = local_embedder()
    s = summarize(e, ARTICLE, max_sentences=2)
    sents = split_sentences(ARTICLE)
    picked = [x for x in sents if x in s]
    assert len(picked) == 2 and s == " ".join(picked), "whole sentences of the text, in their order"
    assert summarize(e, "Short text.") == "Short text."


def test_key_phrases_find_the_subject():
    kws = key_phrases(local_embedder(), ARTICLE, STOPWORDS, k=5)
    assert len(kws) == 5 and any("terminal" in k or "port" in k for k in kws[:2])
    assert all(w not in kws for w in ("the", "and", "about"))


def test_zero_shot_on_a_taxonomy_invented_here():
    """Labels a user might write for a cookery, gardening and travel site (not BBC's), names only."""
    zs = ZeroShot(local_embedder(), {"Cooking": "", "Garden/Plants": "", "Travel": ""})
    texts = [
        "Whisk the eggs with sugar, fold in the flour and bake the cake for forty minutes in the oven.",
        "Prune the roses in early spring and water the seedlings every evening; mulch keeps weeds down.",
        "Our flight landed late, so we took a taxi to the hotel and explored the old town the next morning.",
        "",
    ]
    assert [label for label, _ in zs.classify(texts)] == ["Cooking", "Garden/Plants", "Travel", "unknown"]


def test_labels_with_capitals_and_separators_match():
    assert label_text("Sci/Tech") == "sci tech" and label_text("World") == "world"
    assert label_text("realEstate", "homes for sale") == "real estate: homes for sale"
    zs = ZeroShot(local_embedder(), {"World": "", "Sports": "", "Business": "", "Sci/Tech": ""})
    labels = [
        label
        for label, _ in zs.classify(
            [
                "The striker scored twice as the team won the league match on Saturday.",
                "Researchers unveiled a faster computer chip and new software for smartphones.",
            ]
        )
    ]
    assert labels == ["Sports", "Sci/Tech"]


def test_unknown_when_no_label_fits():
    zs = ZeroShot(local_embedder(), {"sport": "", "politics": ""})
    assert zs.classify(["Lorem ipsum dolor sit amet, consectetur adipiscing elit."])[0][0] == "unknown"
    assert zs.classify(["The minister called an election after parliament voted."])[0][0] == "politics"


def test_a_few_examples_refine_a_label():
    e = local_embedder()
    text = "The quarterly invoice lists unpaid amounts for freight and storage."
    names_only = ZeroShot(e, {"billing": "", "shipping": ""}).classify([text])[0][1]
    shots = ZeroShot(
        e, {"billing": "", "shipping": ""}, examples={"billing": ["invoice with amounts due", "unpaid bill"]}
    )
    with_shots = shots.classify([text])[0][1]
    assert with_shots["billing"] > names_only["billing"] and shots.classify([text])[0][0] == "billing"


def test_semantic_near_duplicates_pair_paraphrases():
    e = local_embedder()
    v = e.embed(
        [
            "The city council approved a new budget for schools and public libraries on Monday.",
            "On Monday the town council passed fresh funding for its schools and public libraries.",
            "The striker scored twice as the team won the cup final.",
        ]
    )
    pairs = near_duplicate_pairs(v, 0.75)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]


def test_static_embedder_equals_wordllama_and_is_centred_by_default():
    import os

    import wordllama
    from wordllama import WordLlama

    from dwc_resources.embedding import StaticEmbedder

    texts = [ARTICLE, "  two  spaces  and a tab\there ", "x ", "Ünïcode – dashes and 'quotes'", "hello\nworld"]
    reference = WordLlama.load(cache_dir=os.path.dirname(wordllama.__file__), disable_download=True)
    assert np.abs(StaticEmbedder(centred=False).embed(texts) - reference.embed(texts, norm=True)).max() < 1e-5
    e = local_embedder()
    a, b, c = e.embed(
        ["electric container terminal at the port", "a new dock for cargo ships", "the striker scored in the cup final"]
    )
    assert a.shape == (256,) and abs(np.linalg.norm(a) - 1) < 1e-5
    assert float(a @ b) > float(a @ c) + 0.1, "meaning without shared words"
    assert np.array_equal(e.embed(["same text"]), e.embed(["same text"]))
    assert not np.any(e.embed([""])), "an empty text has no direction"


def test_hashed_features_remain_a_lexical_peer():
    a, b = HashedEmbedder().embed(["electric container terminal", "a new dock for cargo ships"])
    assert a.shape == (384,) and float(a @ b) == 0.0, "no shared words, no similarity"


def test_entities_with_offsets():
    text = (
        "Invoice from Northwind Logistics Ltd to Helios Energy GmbH, due 14 March 2024: EUR 12,500.00. "
        "Questions to billing@northwind.example. Dr. Amara Okafor said the Rotterdam office will pay."
    )
    found = entities(text, places=("Rotterdam",))
    by_type = {}
    for e in found:
        by_type.setdefault(e["type"], []).append(e["text"])
        assert text[e["start"] : e["end"]].strip().rstrip(".") == e["text"]
    assert by_type["email"] == ["billing@northwind.example"]
    assert "EUR 12,500.00" in by_type["money"] and "14 March 2024" in by_type["date"]
    assert "Northwind Logistics Ltd" in by_type["organisation"] and "Helios Energy GmbH" in by_type["organisation"]
    assert any("Amara Okafor" in p for p in by_type["person"]) and by_type["place"] == ["Rotterdam"]


def test_sentiment_polarity_and_negation():
    assert sentiment("Record profit and strong growth: investors were pleased.") > 0.3
    assert sentiment("Losses, delays and a failed launch caused concern.") < -0.3
    assert sentiment("The results were not good.") < 0
    assert sentiment("The meeting is on Tuesday.") == 0.0
