"""The offline local provider: deterministic, and right on cases a person can check."""

import numpy as np

from dwc_resources.ai_local import NEWS_TAXONOMY, classify, embed, entities, keywords, sentiment, summarize

ARTICLE = (
    "The port of Rotterdam opened a fully electric container terminal on Monday. "
    "The terminal cost about 400 million euros, shared between public and private investors. "
    "Officials expect the electric terminal to cut emissions at the port by a third. "
    "Critics pointed to delays and asked for independent audits of the budget. "
    "Local businesses expect 2,000 new jobs at the port over the next five years."
)


def test_summary_is_extractive_and_ordered():
    s = summarize(ARTICLE, max_sentences=2)
    parts = [p for p in s.split(". ") if p]
    assert len(parts) == 2 and all(p.rstrip(".") in ARTICLE for p in parts)
    assert ARTICLE.index(parts[0]) < ARTICLE.index(parts[1].rstrip("."))
    assert summarize("Short text.") == "Short text."


def test_keywords_find_the_subject():
    kws = keywords(ARTICLE, k=5)
    assert "port" in kws and "terminal" in " ".join(kws)
    assert all(w not in kws for w in ("the", "and", "about"))


def test_zero_shot_topics():
    news = NEWS_TAXONOMY
    assert (
        classify("The striker scored twice as the team won the cup final against the league champion", news)[0]
        == "sport"
    )
    assert (
        classify("The minister said the government would call an election after the party vote", news)[0] == "politics"
    )
    assert (
        classify("Shares rose after the company reported record profit and sales growth to investors", news)[0]
        == "business"
    )
    label, scores = classify("Lorem ipsum dolor", news)
    assert label == "unknown" and set(scores) == {"business", "entertainment", "politics", "sport", "tech"}
    assert classify("Invoice number 17. Subtotal EUR 100, VAT 21%, total due in 30 days to IBAN NL91.")[0] == "invoice"
    assert classify("This agreement between the parties: liability, confidentiality, governing law.")[0] == "contract"


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


def test_embeddings_are_deterministic_normalised_and_semantic():
    a, b, c = embed(
        [
            "electric container terminal at the port",
            "the port opens an electric terminal",
            "the striker scored in the cup final",
        ]
    )
    assert a.shape == (384,) and abs(np.linalg.norm(a) - 1) < 1e-5
    assert float(a @ b) > float(a @ c) + 0.2
    assert np.array_equal(embed(["same text"]), embed(["same text"]))
