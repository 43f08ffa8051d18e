"""Chains end to end on the local provider: steps land in chains.<chain>_<step>, re-runs cost
nothing, a changed step marks and redoes exactly what follows it, generated documents come back
through ingestion into the chain that reads them, and triggers are deterministic."""

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from dwc_pipelines import enrichment, ingestion
from dwc_pipelines.chains.assets import build_defs
from dwc_resources.notify import NotificationsResource

CONTRACT = """Master Services Agreement between Orbital Freight SA and Helios Energy GmbH

This Master Services Agreement is entered into on {day} May 2024 by Orbital Freight SA (the Supplier) and Helios
Energy GmbH (the Customer). The agreement runs for {months} months and renews automatically unless either party gives
ninety days written notice. The Customer shall pay an annual fee of EUR 321,000, invoiced quarterly. Liability is
limited to the fees paid in the twelve months before the claim. Confidentiality obligations survive termination.
This agreement is governed by the laws of the Netherlands. Signed by both parties. The clause on warranty applies.
"""

REVIEW = """description: review contracts
trigger: {{new_documents: true}}
select:
  topic: contract
steps:
  - name: summary
    uses: summarize
    max_sentences: 2
  - name: terms
    uses: extract
    fields:
      term_months: {{type: number, pattern: 'runs for ([0-9]+) months'}}
      governing_law: {{type: string, pattern: 'laws of (?:the )?([A-Z][a-z]+)'}}
      effective_date: {{type: date, pattern: 'entered into on ([0-9]+ [A-Z][a-z]+ [0-9]{{4}})'}}
  - name: memo
    uses: generate
    title: "{memo_title} {{{{ title }}}}"
    template: "Term {{{{ terms.term_months }}}} months under {{{{ terms.governing_law }}}} law. {{{{ summary.summary }}}}"
  - name: alert
    uses: notify
    per: chain
    channels: [outbox]
    subject: "{{{{ count }}}} contracts reviewed"
    item_template: "- {{{{ title }}}}: {{{{ memo.path }}}}"
    template: "{{{{ items }}}}"
"""

BRIEFING = """select: {from_chain: review}
steps:
  - name: briefing
    uses: generate
    per: chain
    title: "Briefing"
    item_template: "- {{ title }}"
    template: "{{ count }} memos:\\n{{ items }}"
"""


class ChainsEnv:
    def __init__(self, env, instance, tmp_path: Path):
        self.env, self.instance = env, instance
        self.chains_dir = tmp_path / "chains"
        self.chains_dir.mkdir()
        self.outbox = tmp_path / "outbox"
        self.notifications = NotificationsResource(
            log_path=str(tmp_path / "notify.sqlite"), outbox_dir=str(self.outbox)
        )

    def write_specs(self, memo_title: str = "Memo:") -> None:
        (self.chains_dir / "review.yaml").write_text(REVIEW.format(memo_title=memo_title))
        (self.chains_dir / "briefing.yaml").write_text(BRIEFING)

    def defs(self) -> dg.Definitions:
        return dg.Definitions.merge(
            ingestion.defs,
            enrichment.defs,
            build_defs(self.chains_dir),
            dg.Definitions(resources={**self.env.resources(), "notifications": self.notifications}),
        )

    def ingest_and_enrich(self) -> None:
        assert self.env.run_ingest(self.instance).success
        job = dg.define_asset_job("enrich", selection=dg.AssetSelection.groups("enrichment"))
        defs = dg.Definitions.merge(self.defs(), dg.Definitions(jobs=[job]))
        assert defs.resolve_job_def("enrich").execute_in_process(instance=self.instance).success

    def run_chain(self, name: str) -> dict[str, dict]:
        result = self.defs().resolve_job_def(f"workflow_{name}_job").execute_in_process(instance=self.instance)
        assert result.success
        return {
            ev.asset_key.path[-1]: {
                k: v.value for k, v in ev.step_materialization_data.materialization.metadata.items()
            }
            for ev in result.all_events
            if ev.is_step_materialization
        }


def test_chain_steps_results_versions_and_generated_documents(env, instance, tmp_path):
    ce = ChainsEnv(env, instance, tmp_path)
    env.write("contracts/a.txt", CONTRACT.format(day=1, months=24))
    env.write("contracts/b.txt", CONTRACT.format(day=2, months=36))
    env.write("notes/lunch.txt", "Dear team, thanks for the call. Please confirm the meeting. Best regards, Ann.")
    ce.write_specs()
    ce.ingest_and_enrich()

    first = ce.run_chain("review")
    assert first["select"]["dagster/row_count"] == 2
    assert first["summary"]["processed"] == 2 and first["memo"]["processed"] == 2 and first["alert"]["processed"] == 1
    terms = env.query("SELECT output, content_hash, run_id FROM chains.review_terms ORDER BY output->>'term_months'")
    assert [json.loads(t[0]) for t in terms] == [
        {"term_months": 24.0, "governing_law": "Netherlands", "effective_date": "2024-05-01"},
        {"term_months": 36.0, "governing_law": "Netherlands", "effective_date": "2024-05-02"},
    ]
    assert all(len(t[1]) == 64 and t[2] for t in terms), "each row carries the content_hash and run_id it came from"
    memos = sorted((env.landing / "generated" / "review" / "memo").glob("*.md"))
    assert len(memos) == 2 and "Term 24 months under Netherlands law." in "".join(m.read_text() for m in memos)
    assert len(list(ce.outbox.glob("*.eml"))) == 1

    again = ce.run_chain("review")
    assert all(again[s]["processed"] == 0 for s in ("summary", "terms", "memo", "alert")), (
        "nothing changed, nothing done"
    )
    assert again["summary"]["usage/calls"] == 0, "and no provider call was made"
    assert len(list(ce.outbox.glob("*.eml"))) == 1 and len(ce.notifications.deliveries()) == 1

    # A changed memo title: Dagster marks exactly memo and what follows it stale, and a run redoes only those.
    ce.write_specs(memo_title="Review:")
    from dagster._core.definitions.data_version import StaleStatus
    from dagster._utils.test.data_versions import get_stale_status_resolver

    defs = ce.defs()
    graph = defs.resolve_asset_graph()
    resolver = get_stale_status_resolver(instance, [graph.get(k).assets_def for k in graph.get_all_asset_keys()])
    status = {
        k.path[-1]: resolver.get_status(k) for k in graph.get_all_asset_keys() if k.path[:2] == ["chains", "review"]
    }
    assert status["summary"] == status["terms"] == status["select"] == StaleStatus.FRESH
    assert status["memo"] == status["alert"] == StaleStatus.STALE
    changed = ce.run_chain("review")
    assert changed["summary"]["processed"] == 0 and changed["terms"]["processed"] == 0
    assert changed["memo"]["processed"] == 2 and changed["alert"]["processed"] == 1

    # The memos go back through ingestion; the review chain never selects them, the briefing chain does.
    ce.ingest_and_enrich()
    generated = env.query(
        "SELECT count(*) FROM docs.documents WHERE is_current AND source_path LIKE 'generated/review/%'"
    )
    assert generated == [(2,)]
    assert ce.run_chain("review")["select"]["dagster/row_count"] == 2
    briefing = ce.run_chain("briefing")
    assert briefing["select"]["dagster/row_count"] == 2 and briefing["briefing"]["processed"] == 1
    text = (env.landing / "generated" / "briefing" / "briefing" / "briefing.md").read_text()
    assert text.startswith("# Briefing") and text.count("- Review: Master Services Agreement") == 2


def test_new_documents_sensor_and_schedule_have_deterministic_run_keys(env, instance, tmp_path):
    ce = ChainsEnv(env, instance, tmp_path)
    ce.write_specs()
    (ce.chains_dir / "digest.yaml").write_text(
        'trigger: {cron: "0 7 * * 1"}\nselect: {where: "word_count > 0"}\nsteps:\n  - {name: s, uses: summarize}\n'
    )
    defs = ce.defs()
    sensor = defs.resolve_sensor_def("workflow_review_on_new_documents")

    def tick(cursor=None):
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"warehouse": env.warehouse})
        return sensor(ctx), ctx

    assert isinstance(tick()[0], dg.SkipReason), "no snapshot yet: skipped, cursor untouched"
    env.write("contracts/a.txt", CONTRACT.format(day=1, months=24))
    ce.ingest_and_enrich()
    result, _ = tick()
    assert len(result.run_requests) == 1
    key, cursor = result.run_requests[0].run_key, result.cursor
    assert key.startswith("review-") and tick()[0].run_requests[0].run_key == key, "same selection, same run_key"
    assert isinstance(tick(cursor)[0], dg.SkipReason), "an unchanged selection requests nothing"
    env.write("contracts/b.txt", CONTRACT.format(day=2, months=36))
    ce.ingest_and_enrich()
    later, _ = tick(cursor)
    assert later.run_requests[0].run_key != key

    schedule = defs.resolve_schedule_def("workflow_digest_schedule")
    when = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    request = schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=when))
    assert request.run_key == "digest-20261123T0700" and schedule.cron_schedule == "0 7 * * 1"


def test_a_bad_spec_is_reported_and_the_other_chains_load(env, instance, tmp_path):
    ce = ChainsEnv(env, instance, tmp_path)
    ce.write_specs()
    (ce.chains_dir / "broken.yaml").write_text("select: {topic: x}\nsteps:\n  - name: a\n    uses: translate\n")
    defs = ce.defs()
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "chains/review/memo" in keys and "chains/briefing/briefing" in keys
    assert not any("broken" in k for k in keys)
    registry = defs.resolve_assets_def(dg.AssetKey(["chains", "registry"]))
    assert "broken.yaml:4: steps[0].uses: unknown step 'translate'" in registry.descriptions_by_key[registry.key]
    job = dg.define_asset_job("registry_job", selection=[registry.key])
    assert (
        dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
        .resolve_job_def("registry_job")
        .execute_in_process(instance=instance)
        .success
    )
    rows = env.query("SELECT file, status, line, error FROM chains.registry ORDER BY file")
    assert rows[1][:3] == ("broken.yaml", "invalid", 4) and "translate" in rows[1][3]


def test_chain_steps_through_an_openai_compatible_endpoint(env, instance, tmp_path):
    """The same chain with `ai` bound to an endpoint: each task is a schema-validated chat answer,
    usage lands in the metadata, and a second run makes no request."""
    from dwc_resources import LLMResource

    from .llm_double import LLMDouble

    def answer(body):
        schema = json.loads(body["messages"][0]["content"].split("\n", 1)[1])
        required = schema["required"]
        if required == ["summary", "keywords", "topic", "entities", "sentiment"]:
            return json.dumps({"summary": "s", "keywords": [], "topic": "contract", "entities": [], "sentiment": 0})
        if required == ["summary"]:
            return json.dumps({"summary": "An agreement between two firms."})
        if required == ["text"]:
            return json.dumps({"text": "Memo written by the model."})
        return json.dumps({"term_months": 24, "governing_law": "Netherlands", "effective_date": "2024-05-01"})

    ce = ChainsEnv(env, instance, tmp_path)
    ce.write_specs()
    env.write("contracts/a.txt", CONTRACT.format(day=1, months=24))
    with LLMDouble(responder=answer) as double:
        llm = LLMResource(base_url=double.base_url, model="test-model", api_key="k", max_concurrency=2)
        ce.env.resources = lambda: {**type(env).resources(env), "ai": llm}
        ce.ingest_and_enrich()
        first = ce.run_chain("review")
        assert first["summary"]["processed"] == 1 and first["summary"]["usage/calls"] == 1
        assert first["memo"]["model"] == "test-model/documents" and first["memo"]["usage/prompt_tokens"] == 10
        requests = len(double.requests)
        again = ce.run_chain("review")
        assert len(double.requests) == requests and again["memo"]["processed"] == 0
    assert json.loads(env.query("SELECT output FROM chains.review_summary")[0][0]) == {
        "summary": "An agreement between two firms."
    }
    [memo] = (env.landing / "generated" / "review" / "memo").glob("*.md")
    assert (
        memo.read_text()
        == "# Memo: Master Services Agreement between Orbital Freight SA and Helios Energy GmbH\n\nMemo written by the model.\n"
    )


def test_upstream_trigger_puts_an_eager_condition_on_every_step(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "trigger: {upstream: true}\nselect: {topic: x}\nsteps:\n  - {name: s, uses: summarize}\n"
    )
    (tmp_path / "d.yaml").write_text("select: {topic: x}\nsteps:\n  - {name: s, uses: summarize}\n")
    defs = build_defs(tmp_path)
    conditions = {s.key.to_user_string(): s.automation_condition for a in defs.assets for s in a.specs}
    assert conditions["chains/c/select"] is not None and conditions["chains/c/s"] is not None
    assert conditions["chains/d/select"] is None and conditions["chains/d/s"] is None
