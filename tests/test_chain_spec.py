"""Chain specs: the shipped templates load, and each kind of mistake names its file, line and field."""

import subprocess
import sys
import textwrap

import pytest

from dwc_pipelines.chains.spec import ChainSpecError, load_chains, parse_chain, render

from .conftest import ROOT

GOOD = """\
description: test chain
select:
  topic: contract
steps:
  - name: summary
    uses: summarize
  - name: memo
    uses: generate
    title: "Memo {{ title }}"
    template: "{{ summary.summary }}"
"""


def error_of(text: str, file: str = "chains/x.yaml") -> ChainSpecError:
    with pytest.raises(ChainSpecError) as info:
        parse_chain(textwrap.dedent(text), file)
    return info.value


def test_shipped_chains_are_valid_and_include_a_chain_fed_by_a_chain():
    chains, errors = load_chains(ROOT / "chains")
    assert errors == []
    names = {c.name for c in chains}
    assert {"contract_review", "invoice_extraction", "weekly_digest", "legal_briefing"} <= names
    assert next(c for c in chains if c.name == "legal_briefing").select["from_chain"] == "contract_review"


def test_unknown_step_is_located():
    e = error_of(GOOD.replace("uses: summarize", "uses: summarise"))
    assert (e.file, e.line, e.where) == ("chains/x.yaml", 6, "steps[0].uses")
    assert "unknown step 'summarise'" in e.message and "summarize" in e.message
    assert str(e).startswith("chains/x.yaml:6: steps[0].uses:")


def test_unknown_field_is_located():
    e = error_of(GOOD.replace("    uses: summarize\n", "    uses: summarize\n    max_sentence: 2\n"))
    assert (e.line, e.where) == (7, "steps[0].max_sentence") and "unknown field" in e.message


def test_missing_template_variable_is_located():
    e = error_of(GOOD.replace("{{ summary.summary }}", "{{ summary.sumary }}"))
    assert (e.line, e.where) == (10, "steps[1].template")
    assert "summary.sumary" in e.message and "summary.summary" in e.message
    e = error_of(GOOD.replace("{{ summary.summary }}", "{{ risk.label }}"))
    assert "unknown template variable '{{ risk.label }}'" in e.message, "a later or absent step is not in scope"


def test_bad_sql_predicate_fails_at_load():
    e = error_of(GOOD.replace("topic: contract", "where: wordcount > 3"))
    assert (e.line, e.where) == (3, "select.where") and "invalid SQL predicate" in e.message


def test_bad_cron_and_bad_types():
    assert "cron" in error_of(GOOD + "trigger:\n  cron: every monday\n").where
    assert (
        error_of(GOOD.replace("uses: summarize", "uses: summarize\n    max_sentences: many")).where
        == "steps[0].max_sentences"
    )
    assert error_of("select: {}\nsteps: []\n").message == "a chain needs at least one step"
    e = error_of("select: {topic: x}\nsteps:\n  - name: a\n    uses: summarize\n  - name: a\n    uses: summarize\n")
    assert (e.line, e.where) == (5, "steps[1].name") and "twice" in e.message
    assert error_of("steps: [\n").where == "yaml"


def test_loops_between_chains_are_rejected_and_do_not_stop_the_others(tmp_path):
    gen = """select: {{from_chain: {src}}}
steps:
  - name: out
    uses: generate
    title: "{{{{ title }}}}"
    template: "{{{{ text }}}}"
"""
    (tmp_path / "a.yaml").write_text(gen.format(src="b"))
    (tmp_path / "b.yaml").write_text(gen.format(src="a"))
    (tmp_path / "c.yaml").write_text(gen.format(src="c"))
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "broken.yaml").write_text(GOOD.replace("uses: summarize", "uses: nope"))
    chains, errors = load_chains(tmp_path)
    assert [c.name for c in chains] == ["good"]
    by_file = {e.file.rsplit("/", 1)[-1]: e for e in errors}
    assert set(by_file) == {"a.yaml", "b.yaml", "c.yaml", "broken.yaml"}
    assert "loop: a -> b -> a" in by_file["a.yaml"].message and by_file["a.yaml"].line == 1
    assert "loop: c -> c" in by_file["c.yaml"].message


def test_step_versions_follow_the_spec():
    a = parse_chain(GOOD, "a.yaml")
    b = parse_chain(GOOD.replace('"Memo {{ title }}"', '"Note {{ title }}"'), "a.yaml")
    assert a.steps[0].version == b.steps[0].version, "an unchanged step keeps its version"
    assert a.steps[1].version != b.steps[1].version
    c = parse_chain(GOOD.replace("topic: contract", "topic: invoice"), "a.yaml")
    assert all(x.version != y.version for x, y in zip(a.steps, c.steps)), "a new selection re-runs every step"


def test_render():
    assert (
        render("{{ a }} / {{ s.f }} / {{ s.l }} / {{ missing }}", {"a": 1.5, "s": {"f": 17393.75, "l": ["x", "y"]}})
        == "1.5 / 17393.75 / x, y / "
    )


def test_validate_command_names_file_line_and_field(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(GOOD.replace("{{ summary.summary }}", "{{ nope }}"))
    out = subprocess.run(
        [sys.executable, "-m", "dwc_pipelines.cli", "chains", "validate", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 1
    assert "ok    " in out.stdout and "chain good" in out.stdout
    assert f"{tmp_path}/bad.yaml:10: steps[1].template: unknown template variable '{{{{ nope }}}}'" in out.stderr
