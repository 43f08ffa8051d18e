"""Great Expectations suites over warehouse tables (plain Python, no Dagster).

Each suite is a query (what the expectations look at) and two lists of expectations: critical
ones, whose failure must stop bad data from flowing on, and warnings. A failed expectation is
reported with the ids of the offending rows and their values, never just a count.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

# Great Expectations reports usage to its analytics host unless told not to; the platform makes
# no network call it was not asked to.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt", "sv", "da", "no", "fi", "pl", "und"]


@dataclass
class Suite:
    name: str
    query: str
    id_columns: list[str]
    critical: list = field(default_factory=list)  # callables returning GX expectations (built lazily)
    warnings: list = field(default_factory=list)


@dataclass
class Outcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int
    unexpected_percent: float
    examples: list[dict]  # the offending rows: id columns and the value that broke the expectation


def suites() -> dict[str, Suite]:
    import great_expectations as gx

    E = gx.expectations
    return {
        "documents": Suite(
            "documents",
            """SELECT doc_id, version, content_hash, status, format, language, word_count, title, is_current
               FROM docs.documents WHERE is_current""",
            ["doc_id", "version"],
            critical=[
                E.ExpectColumnValuesToNotBeNull(column="doc_id"),
                E.ExpectColumnValuesToNotBeNull(column="content_hash"),
                E.ExpectColumnValuesToMatchRegex(column="content_hash", regex=r"^[0-9a-f]{64}$"),
                E.ExpectColumnValuesToBeInSet(column="status", value_set=["active", "deleted"]),
                E.ExpectCompoundColumnsToBeUnique(column_list=["doc_id", "version"]),
            ],
            warnings=[
                E.ExpectColumnValuesToBeBetween(
                    column="word_count",
                    min_value=1,
                    max_value=5_000_000,
                    row_condition='status == "active"',
                    condition_parser="pandas",
                ),
                E.ExpectColumnValuesToBeInSet(column="language", value_set=LANGUAGES, mostly=0.95),
                # Every document has a title: its own (metadata, first heading) or its file name's.
                E.ExpectColumnValuesToNotBeNull(
                    column="title", row_condition='status == "active"', condition_parser="pandas"
                ),
                E.ExpectColumnValueLengthsToBeBetween(column="title", min_value=1, max_value=500),
            ],
        ),
        "chunks": Suite(
            "chunks",
            """SELECT chunk_id, doc_id, version, chunk_index, n_tokens, char_start, char_end, length(text) AS chars
               FROM docs.chunks""",
            ["chunk_id", "doc_id"],
            critical=[
                E.ExpectColumnValuesToNotBeNull(column="chunk_id"),
                E.ExpectColumnValuesToBeBetween(column="n_tokens", min_value=1, max_value=4096),
                E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="char_end", column_B="char_start"),
            ],
            warnings=[
                E.ExpectColumnValuesToBeBetween(column="chars", min_value=20, mostly=0.95),
            ],
        ),
        "enrichment": Suite(
            "enrichment",
            """SELECT content_hash, provider, model, prompt_version, status, topic, sentiment, len(keywords) AS keywords,
                      summary IS NULL OR summary = '' AS empty_summary
               FROM ai.document_enrichment""",
            ["content_hash", "model"],
            critical=[
                E.ExpectColumnValuesToNotBeNull(column="content_hash"),
                E.ExpectColumnValuesToBeInSet(column="status", value_set=["ok", "failed", "skipped"]),
            ],
            warnings=[
                E.ExpectColumnValuesToBeBetween(column="sentiment", min_value=-1, max_value=1),
                E.ExpectColumnValuesToNotBeNull(
                    column="topic", row_condition='status == "ok"', condition_parser="pandas"
                ),
                E.ExpectColumnValuesToBeInSet(column="empty_summary", value_set=[False], mostly=0.95),
                E.ExpectColumnValuesToBeInSet(column="status", value_set=["ok"], mostly=0.95),
            ],
        ),
        "interactions": Suite(
            "interactions",
            """SELECT user_id, item_id, type, value, weight, ts, source_file, line FROM recs.interactions""",
            ["source_file", "line"],
            critical=[
                E.ExpectColumnValuesToNotBeNull(column="user_id"),
                E.ExpectColumnValuesToNotBeNull(column="item_id"),
                E.ExpectColumnValuesToBeInSet(
                    column="type", value_set=["view", "click", "like", "share", "download", "purchase", "rating"]
                ),
                E.ExpectColumnValuesToBeBetween(column="weight", min_value=0),
            ],
            warnings=[
                E.ExpectColumnValuesToBeBetween(
                    column="value",
                    min_value=0,
                    max_value=5,
                    row_condition='type == "rating"',
                    condition_parser="pandas",
                ),
                E.ExpectCompoundColumnsToBeUnique(column_list=["user_id", "item_id", "type", "ts"], mostly=0.99),
            ],
        ),
        "predictions": Suite(
            "predictions",
            "SELECT doc_id, version, label, confidence, model_version FROM ml.document_predictions",
            ["doc_id", "version", "model_version"],
            critical=[
                E.ExpectColumnValuesToNotBeNull(column="label"),
                E.ExpectColumnValuesToNotBeNull(column="model_version"),
            ],
            warnings=[E.ExpectColumnValuesToBeBetween(column="confidence", min_value=0, max_value=1)],
        ),
    }


_lock = threading.Lock()
_context = None


def _gx_context():
    """One ephemeral context per process (it takes seconds to build)."""
    global _context
    with _lock:
        if _context is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            ctx = gx.get_context(mode="ephemeral")
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
            _context = ctx
        return _context


def validate(frame, expectations: list, id_columns: list[str], name: str, max_examples: int = 20) -> list[Outcome]:
    """Run the expectations on a DataFrame; one Outcome per expectation."""
    import great_expectations as gx

    if not expectations:
        return []
    ctx = _gx_context()
    with _lock:
        source = ctx.data_sources.add_or_update_pandas("dwc")
        try:
            source.delete_asset(name)
        except Exception:
            pass
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
        suite = gx.ExpectationSuite(name=f"{name}_suite", expectations=[e.copy() for e in expectations])
        result = batch.get_batch(batch_parameters={"dataframe": frame}).validate(
            suite,
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": id_columns,
                "partial_unexpected_count": max_examples,
            },
        )
    out = []
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        index = res.get("unexpected_index_list") or []
        examples = (
            [{k: (None if _is_nan(v) else v) for k, v in row.items()} for row in index[:max_examples]]
            if index and isinstance(index[0], dict)
            else [{"value": v} for v in (res.get("partial_unexpected_list") or [])[:max_examples]]
        )
        out.append(
            Outcome(
                cfg.type,
                cfg.kwargs.get("column")
                or ",".join(
                    cfg.kwargs.get("column_list", [])
                    or [cfg.kwargs.get("column_A", ""), cfg.kwargs.get("column_B", "")]
                ),
                bool(r.success),
                int(res.get("unexpected_count") or 0),
                float(res.get("unexpected_percent") or 0.0),
                examples,
            )
        )
    return out


def _is_nan(v) -> bool:
    try:
        return v != v
    except Exception:
        return False
