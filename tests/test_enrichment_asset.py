"""ai/document_enrichment: incremental by (content_hash, provider, model, prompt version)."""

import json

import dagster as dg

from dwc_pipelines.enrichment.assets import DOCUMENT_ENRICHMENT, document_enrichment

from .test_ingestion import PROSE, materialization


def enrich(env, instance, prompt_version="v1", taxonomy="news", ai=None):
    config = {"prompt_version": prompt_version, "taxonomy": taxonomy}
    resources = {"warehouse": env.warehouse, "ai": ai or env.resources()["ai"]}
    result = dg.materialize(
        [document_enrichment],
        resources=resources,
        instance=instance,
        run_config={"ops": {"ai__document_enrichment": {"config": config}}},
    )
    assert result.success
    return {k: v.value for k, v in materialization(result, DOCUMENT_ENRICHMENT).metadata.items()}


def test_enrichment_is_incremental_and_keyed_by_prompt_version(env, instance):
    env.write("sport.txt", "The striker scored twice as the team won the cup final. " + PROSE)
    env.write("politics.txt", "The minister said the government would call an election. " + PROSE)
    env.write("copy.txt", "The minister said the government would call an election. " + PROSE)
    assert env.run_ingest(instance).success

    first = enrich(env, instance)
    assert first["enriched"] == 2 and first["provider_calls"] == 1, "two distinct contents, one batch"
    rows = env.query("""SELECT d.source_path, e.topic, len(e.keywords) > 0, e.summary <> '', len(e.embedding),
                               e.embedding_model, e.embedding_dim
                        FROM docs.documents d JOIN ai.document_enrichment e USING (content_hash) ORDER BY 1""")
    assert [r[1] for r in rows] == ["politics", "politics", "sport"]
    assert all(r[2] and r[3] and r[4] == 256 == r[6] and r[5] == "wordllama/l2_supercat_256/centred" for r in rows)
    assert "field_providers" in first and "zero-shot" in first["field_providers"]

    again = enrich(env, instance)
    assert again["enriched"] == 0 and again["provider_calls"] == 0 and again["cache_hits"] == 2

    env.write("sport.txt", "The coach praised the players after the league match. " + PROSE)
    import os
    import time

    os.utime(env.landing / "sport.txt", ns=(time.time_ns(), time.time_ns() + 10**9))
    assert env.run_ingest(instance).success
    changed = enrich(env, instance)
    assert changed["enriched"] == 1 and changed["provider_calls"] == 1

    bumped = enrich(env, instance, prompt_version="v2")
    assert bumped["enriched"] == 2, "a new prompt version redoes exactly the current contents"
    retaxed = enrich(env, instance, prompt_version="v2", taxonomy="documents")
    assert retaxed["enriched"] == 2
    assert retaxed["model"] == "local-v2/documents+descriptions/wordllama/l2_supercat_256/centred"
    entities = env.query("SELECT entities FROM ai.document_enrichment LIMIT 1")[0][0]
    assert isinstance(json.loads(entities), list)


def test_chunk_embeddings_and_search(env, instance):
    from dwc_pipelines.enrichment import vector_index
    from dwc_pipelines.enrichment.assets import CHUNK_EMBEDDINGS, CHUNK_TERMS, chunk_embeddings, chunk_terms
    from dwc_pipelines.enrichment.search import MODES, search
    from dwc_resources import LocalAIResource
    from dwc_resources.embedding import local_embedder

    env.write("harbour.txt", "The harbour master closed the container terminal during the storm. " * 3)
    env.write("cup.txt", "The striker scored twice as the team won the cup final. " * 3)
    env.write("budget.txt", "The council approved the budget for new schools and libraries. " * 3)
    assert env.run_ingest(instance).success

    def embed_run(model="wordllama"):
        resources = {"warehouse": env.warehouse, "ai": LocalAIResource(embedding_model=model)}
        result = dg.materialize([chunk_embeddings], resources=resources, instance=instance)
        return {k: v.value for k, v in materialization(result, CHUNK_EMBEDDINGS).metadata.items()}

    first = embed_run()
    assert first["chunks_embedded"] == 3 and first["dim"] == 256 and first["index_added"] == 3
    assert embed_run()["chunks_embedded"] == 0, "chunks already embedded are not embedded again"
    index = dg.materialize([chunk_terms], resources={"warehouse": env.warehouse}, instance=instance)
    assert materialization(index, CHUNK_TERMS).metadata["chunks_indexed"].value == 3
    folder = vector_index.index_dir(env.warehouse.work_dir)
    assert vector_index.load(folder, local_embedder().model).ids, "the ANN index holds the chunks"
    with env.warehouse.reader() as con:
        for mode in MODES:
            hits = search(con, "storm at the container terminal", k=2, mode=mode, index_folder=folder)
            assert hits[0][1] == "harbour.txt" and (len(hits) == 1 or hits[0][3] > hits[1][3]), mode
            assert search(con, "football cup final", k=1, mode=mode)[0][1] == "cup.txt", mode
            assert search(con, "the of and", k=3, mode=mode) == [], mode
        assert [h[1] for h in search(con, "libraries", k=5, mode="keyword")] == ["budget.txt"], (
            "BM25 matches terms only"
        )
        # Paraphrases share no content word with their target: only meaning finds them.
        for query, target in (
            ("port shut by severe weather", "harbour.txt"),
            ("football match goals", "cup.txt"),
            ("local government spending on education", "budget.txt"),
        ):
            assert search(con, query, k=1, mode="keyword") == [], query
            hit = search(con, query, k=1, index_folder=folder)
            assert hit and hit[0].source_path == target, (query, hit)
            assert hit[0].explain()["vector_rank"] == 1 and hit[0].explain()["keyword_rank"] is None
        # The relevance cutoff: nothing here is about this, so nothing comes back (not the least bad three).
        assert search(con, "recipe for sourdough bread with rye flour", k=3, index_folder=folder) == []
        assert len(search(con, "recipe for sourdough bread", k=3, min_similarity=None)) == 3

    # Another model: its vectors are computed for every chunk (the old rows stay, never mixed in a query).
    changed = embed_run("hashed")
    assert changed["chunks_embedded"] == 3 and changed["dim"] == 384 and changed["model"] == "local-v1/hashed-384"
    assert embed_run("hashed")["chunks_embedded"] == 0
    models = dict(env.query("SELECT model, count(DISTINCT dim) FROM ai.chunk_embeddings GROUP BY 1"))
    assert models == {"wordllama/l2_supercat_256/centred": 1, "local-v1/hashed-384": 1}
    env.write("ferry.txt", "The ferry crossing was cancelled because of high winds and waves. " * 3)
    assert env.run_ingest(instance).success
    assert embed_run()["chunks_embedded"] == 1, "back on the first model, only the new chunk is embedded"
    assert len(vector_index.load(folder, local_embedder().model).ids) == 4
    # An erasure drops a chunk's vectors and the next run recomputes them from the rewritten text:
    # the index is rebuilt rather than keep the old vector.
    with env.warehouse.writer() as con:
        con.execute(
            "DELETE FROM ai.chunk_embeddings WHERE model = ? AND chunk_id = "
            "(SELECT min(chunk_id) FROM ai.chunk_embeddings)",
            [local_embedder().model],
        )
    again = embed_run()
    assert again["chunks_embedded"] == 1 and again["index_added"] == 4 and again["index_chunks"] == 4


def test_enrichment_through_an_openai_compatible_endpoint(env, instance):
    """The same asset with the `ai` key bound to an endpoint: one request per content, none when
    nothing changed, and an invalid answer becomes a failed row that the next run asks again."""
    from dwc_resources import LLMResource

    from .llm_double import LLMDouble

    def answer(body):
        text = body["messages"][-1]["content"]
        topic = "sport" if "striker" in text else "politics"
        return json.dumps(
            {
                "summary": "A short summary.",
                "keywords": ["k1", "k2"],
                "topic": topic,
                "entities": [{"type": "person", "text": "Ann Lee"}],
                "sentiment": 0.25,
            }
        )

    for i, lead in enumerate(["The striker scored twice.", "The minister spoke.", "The minister voted."]):
        env.write(f"d{i}.txt", lead + " " + PROSE)
    assert env.run_ingest(instance).success
    with LLMDouble(responder=answer) as double:
        llm = LLMResource(
            base_url=double.base_url,
            model="test-model",
            api_key="test-key",
            max_invalid_retries=1,
            max_concurrency=1,
            prompt_usd_per_1k_tokens=1.0,
            completion_usd_per_1k_tokens=2.0,
        )
        double.then(("content", "not json"), ("content", '{"summary": 3}'))
        first = enrich(env, instance, ai=llm)
        assert first["enriched"] == 3 and first["failed"] == 1
        # Four chat completions (one content answered invalidly twice) and one embeddings request.
        paths = [r["path"] for r in double.requests]
        assert paths.count("/v1/embeddings") == 1 and paths.count("/v1/chat/completions") == 4
        assert first["usage/calls"] == 5 and first["usage/invalid_answers"] == 2
        embedded_tokens = sum(len(r["body"]["input"][i].split()) for r in double.requests
                              if r["path"] == "/v1/embeddings" for i in range(len(r["body"]["input"])))  # fmt: skip
        assert first["usage/cost_usd"] == round((4 * (10 + 2 * 5) + embedded_tokens) / 1000, 6), (
            "invalid answers are paid for too"
        )
        rows = env.query("SELECT status, topic, error FROM ai.document_enrichment ORDER BY status, topic")
        assert [r[:2] for r in rows] == [("failed", None), ("ok", "politics"), ("ok", "sport")] or [
            r[:2] for r in rows
        ] == [("failed", None), ("ok", "politics"), ("ok", "politics")]
        assert "invalid answer" in rows[0][2]

        second = enrich(env, instance, ai=llm)
        assert second["enriched"] == 1 and second["failed"] == 0 and second["usage/calls"] == 2
        calls = len(double.requests)
        third = enrich(env, instance, ai=llm)
        assert third["enriched"] == 0 and len(double.requests) == calls, "unchanged content costs no request"
    assert env.query(
        "SELECT count(*) FROM ai.document_enrichment WHERE status = 'ok' AND model = 'test-model/news'"
        " AND embedding_model = 'text-embedding-3-small' AND embedding_dim = 3"
    ) == [(3,)], "the endpoint's own embedding model and width are recorded"


def test_dwc_search_explains_and_says_when_nothing_is_relevant(env, instance, monkeypatch, capsys):
    from dwc_pipelines import cli
    from dwc_pipelines.enrichment.assets import chunk_embeddings, chunk_terms

    env.write("harbour.txt", "The harbour master closed the container terminal during the storm. " * 3)
    env.write("cup.txt", "The striker scored twice as the team won the cup final. " * 3)
    assert env.run_ingest(instance).success
    resources = {"warehouse": env.warehouse, "ai": env.resources()["ai"]}
    assert dg.materialize([chunk_embeddings, chunk_terms], resources=resources, instance=instance).success
    monkeypatch.setenv("DWC_HOME", str(env.root))
    monkeypatch.delenv("DWC_LAKE_CATALOG", raising=False)

    assert cli.main(["search", "port shut by severe weather", "--explain"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1. ") and "harbour.txt" in out and "cup.txt" not in out
    assert "vector rank 1 (cosine" in out and "keyword: no query term" in out

    assert cli.main(["search", "recipe for sourdough bread", "--json", "--explain"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli.main(["search", "recipe for sourdough bread"]) == 0
    assert "no results for 'recipe for sourdough bread'" in capsys.readouterr().out
    assert cli.main(["search", "recipe for sourdough bread", "--min-similarity", "-1", "-k", "1"]) == 0
    assert capsys.readouterr().out.startswith("1. "), "without the cutoff, the least bad hit"

    monkeypatch.setenv("DWC_EMBEDDING_MODEL", "hashed")
    assert cli.main(["search", "storm"]) == 0
    captured = capsys.readouterr()
    assert "no chunk is embedded with local-v1/hashed-384" in captured.err and "harbour.txt" in captured.out
