"""`dwc` as a script sees it: exit status 0 done, 1 a user error with one line saying what to do, 2 a
usage error; --json where a script wants the result. On a small lake written here (no pipeline run)."""

import json

import pytest

from dwc_pipelines import cli
from dwc_resources.lakehouse import LakehouseResource

DDL = """
CREATE TABLE docs.documents (doc_id VARCHAR, version INTEGER, status VARCHAR, is_current BOOLEAN, content_hash VARCHAR,
    source_path VARCHAR, format VARCHAR, ingested_at TIMESTAMP, run_id VARCHAR, title VARCHAR, text VARCHAR);
CREATE TABLE recs.item_features (item_id VARCHAR, doc_id VARCHAR, title VARCHAR);
CREATE TABLE recs.interactions (user_id VARCHAR, item_id VARCHAR);
CREATE TABLE recs.recommendations (user_id VARCHAR, model VARCHAR, rank INTEGER, score DOUBLE, item_id VARCHAR,
    model_version VARCHAR);
CREATE TABLE recs.similar_items (item_id VARCHAR, similar_item_id VARCHAR, model VARCHAR, rank INTEGER, score DOUBLE);
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DWC_HOME", str(tmp_path))
    monkeypatch.setenv("DWC_ENV", "local")
    monkeypatch.delenv("DWC_LAKE_CATALOG", raising=False)
    (tmp_path / "dagster").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    with LakehouseResource.local(str(tmp_path)).writer() as con:
        con.execute(DDL)
        docs = [(f"d{i}", f"ships/s{i}.txt", f"Harbour report {i}") for i in range(6)]
        con.executemany(
            "INSERT INTO docs.documents VALUES (?, 1, 'active', true, ?, ?, 'txt', now(), 'run00001', ?, 'text')",
            [(d, "h" + d * 8, path, title) for d, path, title in docs],
        )
        con.execute(
            "INSERT INTO recs.item_features VALUES ('m1', NULL, 'Toy Story (1995)'), ('m2', NULL, 'Heat (1995)')"
        )
        con.execute("INSERT INTO recs.interactions VALUES ('sailor', 'd0'), ('sailor', 'd1')")
        con.executemany(
            "INSERT INTO recs.recommendations VALUES (?, 'hybrid', ?, ?, ?, 'v1234567890')",
            [("sailor", r, 1 - r / 10, f"d{r + 1}") for r in range(1, 5)]
            + [("*", r, 1 - r / 10, f"d{r}") for r in range(1, 4)],
        )
        con.executemany(
            "INSERT INTO recs.similar_items VALUES ('d0', ?, ?, ?, ?)",
            [(f"d{r}", model, r, 1 - r / 10) for model in ("content", "ease") for r in range(1, 6)]
            + [("m2", "content", 6, 0.1)],
        )
    return tmp_path


def run(capsys, *argv):
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_similar_items_show_titles_honour_n_and_print_nothing_else(home, capsys):
    code, out, err = run(capsys, "recommend", "--similar", "d0", "-n", "2")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 4, out  # two per model
    assert all("Harbour report" in line and "ships/s" in line for line in lines), out
    code, out, _ = run(capsys, "recommend", "--similar", "ships/s0.txt", "-n", "1")  # a landing path names it too
    assert code == 0 and len(out.strip().splitlines()) == 2
    code, out, err = run(capsys, "recommend", "--similar", "nothing-like-this")
    assert code == 1 and out == "" and "unknown item 'nothing-like-this'" in err
    code, out, _ = run(capsys, "recommend", "--similar", "d0", "-n", "3", "--json")
    data = json.loads(out)
    assert code == 0 and [s["rank"] for s in data["similar"]] == [1, 2, 3, 1, 2, 3]
    assert data["similar"][0]["title"] == "Harbour report 1" and data["similar"][0]["id"] == "ships/s1.txt"


def test_recommendations_name_unknown_users_and_honour_n(home, capsys):
    code, out, _ = run(capsys, "recommend", "sailor", "-n", "2")
    assert code == 0 and "sailor: 2 interactions" in out and len(out.strip().splitlines()) == 3
    code, out, _ = run(capsys, "recommend", "stranger")
    assert code == 0 and "'stranger' is not a known user" in out and "Harbour report 1" in out
    code, out, err = run(capsys, "recommend", "stranger", "--model", "ease")
    assert code == 1 and "ease has no recommendations for 'stranger'" in err and out == ""
    code, out, _ = run(capsys, "recommend", "stranger", "--json")
    data = json.loads(out)
    assert data["new_user"] and len(data["items"]) == 3
    code, _, err = run(capsys, "recommend")
    assert code == 2 and "give a user" in err


def test_sql_says_the_analyst_lake_is_read_only_and_gives_json(home, capsys):
    code, out, err = run(capsys, "sql", "DELETE FROM docs.documents")
    assert code == 1 and "read-only" in err and "dwc erase" in err and len(err.strip().splitlines()) == 1, err
    code, out, _ = run(capsys, "sql", "--json", "SELECT doc_id, title FROM docs.documents ORDER BY doc_id LIMIT 2")
    assert code == 0 and json.loads(out) == [
        {"doc_id": "d0", "title": "Harbour report 0"},
        {"doc_id": "d1", "title": "Harbour report 1"},
    ]
    code, _, err = run(capsys, "sql", "SELECT * FROM no_such_table")
    assert code == 1 and "no_such_table" in err


def test_trace_names_what_was_never_ingested(home, capsys, tmp_path):
    code, out, err = run(capsys, "trace", "ships/never.txt")
    assert code == 1 and out == "" and "nothing was ingested as 'ships/never.txt'" in err
    stray = tmp_path / "stray.txt"
    stray.write_text("bytes nobody ingested")
    code, _, err = run(capsys, "trace", str(stray))
    assert code == 1 and "never ingested, or it changed since" in err
    code, out, _ = run(capsys, "trace", "ships/s3.txt")
    assert code == 0 and "Document d3" in out


def test_validate_commands_fail_on_a_missing_folder(home, capsys, tmp_path):
    for what in ("chains", "models"):
        code, out, err = run(capsys, what, "validate", str(tmp_path / "missing"))
        assert code == 1 and "no such folder" in err, (what, out, err)


def test_commands_without_a_lake_fail_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DWC_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("DWC_LAKE_CATALOG", raising=False)
    for argv in (("search", "harbour"), ("recommend", "sailor"), ("status",)):
        code, out, err = run(capsys, *argv)
        assert code == 1 and len(err.strip().splitlines()) == 1 and "materialise" in err, (argv, out, err)
