"""Anchoring on a chain: the embedded one (state kept across processes) and a real Anvil node over
JSON-RPC; exactly once under RPC failures and kills at every step; verification that fails with a
clear reason; certificates; keys kept out of what DWC writes."""

import hashlib
import json
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import datetime

import duckdb
import pytest

from dwc_pipelines.anchoring import certify, ledger, merkle, verify
from dwc_pipelines.anchoring.schema import DDL
from dwc_pipelines.ingestion.schema import DDL as DOCS_DDL
from dwc_resources import anvil as anvil_node
from dwc_resources.chain import ChainError, ChainResource, NetworkConfig

from .conftest import ROOT, require

ANVIL, ANVIL_KEY = anvil_node.BINARY, anvil_node.DEV_KEY


def hashes(n: int, salt: str = "") -> list[str]:
    return [hashlib.sha256(f"document {salt}{i}".encode()).hexdigest() for i in range(n)]


def warehouse(path, content_hashes: list[str]):
    con = duckdb.connect(str(path))
    con.execute(DOCS_DDL)
    con.execute(DDL)
    start = con.execute("SELECT count(*) FROM docs.documents").fetchall()[0][0]
    if not content_hashes:
        return con
    con.executemany(
        "INSERT INTO docs.documents (doc_id, source_path, content_hash, version, status, is_current, ingested_at, run_id) "
        "VALUES (?, ?, ?, 1, 'active', true, ?, 'seed')",
        [
            (f"doc{start + i}", f"f{start + i}.txt", h, datetime(2026, 1, 1, 0, 0, i % 60))
            for i, h in enumerate(content_hashes)
        ],
    )
    return con


def embedded(tmp_path) -> ChainResource:
    return ChainResource(
        networks=[NetworkConfig(name="embedded", kind="embedded", state_path=str(tmp_path / "chain.sqlite"))],
        deployments_path=str(tmp_path / "deployments.json"),
    )


def anchored_roots(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT root FROM chain.batches WHERE status = 'anchored'").fetchall()]


def assert_exactly_once(con, net, batches: int):
    """Every planned batch anchored, once: the sender sent 1 deploy + one transaction per batch."""
    roots = anchored_roots(con)
    assert (
        len(roots) == batches
        and con.execute("SELECT count(*) FROM chain.batches WHERE status <> 'anchored'").fetchall()[0][0] == 0
    )
    for root in roots:
        assert net.anchor_of(root)[0] > 0
    assert net.nonce("latest") == 1 + batches, "a transaction per batch, no more"
    n = con.execute("SELECT count(*), count(DISTINCT content_hash) FROM chain.proofs").fetchall()[0]
    assert n[0] == n[1] == con.execute("SELECT count(DISTINCT content_hash) FROM docs.documents").fetchall()[0][0]
    for h, proof, root in con.execute("SELECT content_hash, proof, root FROM chain.proofs").fetchall():
        assert merkle.verify(h, json.loads(proof), root)


def test_batches_anchor_once_each_under_50k_gas_and_rerun_adds_nothing(tmp_path):
    con = warehouse(tmp_path / "w.duckdb", hashes(25))
    with embedded(tmp_path).network("embedded") as net:
        out = ledger.anchor_pending(con, net, "r1", max_batch=10, log=lambda m: None)
        assert [o["documents"] for o in out] == [10, 10, 5]
        assert all(o["gas_used"] <= 50_000 for o in out), [o["gas_used"] for o in out]
        gas = [o["gas_used"] for o in out]
        assert max(gas) - min(gas) < 200, "gas does not depend on the batch size (only zero bytes of calldata vary)"
        assert_exactly_once(con, net, 3)
        assert ledger.anchor_pending(con, net, "r2", max_batch=10, log=lambda m: None) == []
        assert_exactly_once(con, net, 3)
        # The registry itself refuses a root it holds.
        from web3.exceptions import ContractCustomError, ContractLogicError

        root = anchored_roots(con)[0]
        from eth_tester.exceptions import TransactionFailed

        with pytest.raises((ContractCustomError, ContractLogicError, TransactionFailed)):
            net.contract("AnchorRegistry").functions.anchor(bytes.fromhex(root), 1, b"\0" * 32).call(
                {"from": net.address}
            )


def test_the_embedded_chain_keeps_its_state_across_processes(tmp_path):
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(ROOT)!r})
        from tests.test_chain import embedded, hashes, warehouse
        from dwc_pipelines.anchoring import ledger
        from pathlib import Path
        tmp = Path({str(tmp_path)!r})
        con = warehouse(tmp / "w.duckdb", hashes(int(sys.argv[1]), sys.argv[2]))
        with embedded(tmp).network("embedded") as net:
            out = ledger.anchor_pending(con, net, sys.argv[2], log=lambda m: None)
            print(net.block_number(), *[o["batch_id"] for o in out])
    """)
    first = subprocess.run([sys.executable, "-c", script, "5", "a"], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    second = subprocess.run([sys.executable, "-c", script, "3", "b"], capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert int(second.stdout.split()[0]) == int(first.stdout.split()[0]) + 1, "the second process continued the chain"
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with embedded(tmp_path).network("embedded", read_only=True) as net:
        for root in anchored_roots(con):
            assert net.anchor_of(root)[0] > 0, "yesterday's anchor still verifies"


class Fault(Exception):
    pass


class Faulty:
    """A Network whose `method` fails on its `call`-th use, before or after the real call."""

    def __init__(self, net, method: str, when: str = "before", call: int = 1, action=None):
        self._net, self._method, self._when, self._call, self._n = net, method, when, call, 0
        self._action = action or (lambda: (_ for _ in ()).throw(Fault(f"{method} {when}")))

    def __getattr__(self, name):
        attr = getattr(self._net, name)
        if name != self._method:
            return attr

        def wrapped(*a, **k):
            self._n += 1
            if self._n == self._call and self._when == "before":
                self._action()
            result = attr(*a, **k)
            if self._n == self._call and self._when == "after":
                self._action()
            return result

        return wrapped


# Every step of the protocol: planned but not signed, signed and recorded but not sent, sent but
# the answer lost (the node has it), the receipt not fetched, the receipt fetched but not recorded.
STEPS = [
    ("sign_anchor", "before", 1),
    ("broadcast", "before", 1),
    ("broadcast", "after", 1),
    ("wait", "before", 1),
    ("anchor_of", "before", 2),
]


@pytest.mark.parametrize("method,when,call", STEPS)
def test_an_rpc_failure_at_any_step_neither_doubles_nor_loses_a_batch(tmp_path, method, when, call):
    con = warehouse(tmp_path / "w.duckdb", hashes(12))
    with embedded(tmp_path).network("embedded") as net:
        with pytest.raises(Fault):
            ledger.anchor_pending(con, Faulty(net, method, when, call), "r1", max_batch=5, log=lambda m: None)
        ledger.anchor_pending(con, net, "r2", max_batch=5, log=lambda m: None)
        assert_exactly_once(con, net, 3)


def test_a_signed_transaction_whose_nonce_was_taken_is_signed_again(tmp_path):
    con = warehouse(tmp_path / "w.duckdb", hashes(4))
    with embedded(tmp_path).network("embedded") as net:
        with pytest.raises(Fault):
            ledger.anchor_pending(con, Faulty(net, "broadcast"), "r1", log=lambda m: None)
        net.contract("DwcCertificate")  # another transaction from the same account takes the nonce
        ledger.anchor_pending(con, net, "r2", log=lambda m: None)
        statuses = dict(con.execute("SELECT status, count(*) FROM chain.transactions GROUP BY 1").fetchall())
        assert statuses == {"dropped": 1, "mined": 1}
        assert len(anchored_roots(con)) == 1 and net.anchor_of(anchored_roots(con)[0])[0] > 0


KILL = textwrap.dedent("""
    import os, sys; sys.path.insert(0, {root!r})
    from pathlib import Path
    from tests.test_chain import Faulty, embedded, warehouse
    from dwc_pipelines.anchoring import ledger
    tmp = Path({tmp!r})
    con = warehouse(tmp / "w.duckdb", [])
    with embedded(tmp).network("embedded") as net:
        ledger.anchor_pending(con, Faulty(net, sys.argv[1], sys.argv[2], action=lambda: os._exit(137)), "killed",
                              max_batch=5, log=lambda m: None)
""")


@pytest.mark.parametrize("method,when", [("broadcast", "before"), ("broadcast", "after"), ("wait", "before")])
def test_a_process_killed_mid_anchor_is_finished_by_the_next_run(tmp_path, method, when):
    warehouse(tmp_path / "w.duckdb", hashes(12)).close()
    out = subprocess.run(
        [sys.executable, "-c", KILL.format(root=str(ROOT), tmp=str(tmp_path)), method, when],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 137, out.stderr
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert con.execute("SELECT count(*) FROM chain.transactions WHERE status = 'signed'").fetchall()[0][0] == 1
    with embedded(tmp_path).network("embedded") as net:
        ledger.anchor_pending(con, net, "after", max_batch=5, log=lambda m: None)
        assert_exactly_once(con, net, 3)


def test_verification_passes_and_fails_with_reasons(tmp_path):
    file = tmp_path / "contract.txt"
    file.write_bytes(b"Master services agreement between Acme and Globex.\n")
    h = hashlib.sha256(file.read_bytes()).hexdigest()
    con = warehouse(tmp_path / "w.duckdb", [h] + hashes(6))
    chain = embedded(tmp_path)
    with chain.network("embedded") as net:
        ledger.anchor_pending(con, net, "r1", log=lambda m: None)
    cur = con.execute("SELECT * FROM chain.proofs WHERE content_hash = ?", [h])
    row = dict(zip([d[0] for d in cur.description], cur.fetchall()[0]))
    proof = verify.export(row, "doc0")
    json.dumps(proof)  # portable
    with chain.network("embedded", read_only=True) as net:
        assert verify.check_offline(h, proof).ok
        good = verify.check_on_chain(proof, net)
        assert good.ok and good.facts["block_number"] == row["block_number"] and good.facts["document_count"] == 7
        modified = verify.check_offline(hashlib.sha256(b"changed").hexdigest(), proof)
        assert not modified.ok and "file was modified" in modified.reasons[0]
        forged = json.loads(json.dumps(proof))
        forged["path"][0] = {k: "11" * 32 for k in forged["path"][0]}
        assert "forged or corrupt" in verify.check_offline(h, forged).reasons[0]
        # A proof whose tree is self-consistent but whose root was never anchored.
        lone = merkle.build([h])
        fake = {**proof, "path": [], "merkle_root": lone.root}
        assert verify.check_offline(h, fake).ok
        missing = verify.check_on_chain(fake, net)
        assert not missing.ok and "is not anchored" in missing.reasons[0]
        elsewhere = verify.check_on_chain({**proof, "anchor": {**proof["anchor"], "chain_id": 1}}, net)
        assert not elsewhere.ok and "chain id" in elsewhere.reasons[0]
    assert not verify.check_offline(h, {"format": "other"}).ok


def test_certificates_are_minted_once_with_the_hash_in_the_token_uri(tmp_path):
    con = warehouse(tmp_path / "w.duckdb", hashes(3))
    h = hashes(3)[1]
    with embedded(tmp_path).network("embedded") as net:
        assert "not anchored" in certify.certify_many(con, net, [(h, "doc1")], "test", "r0")[h]["error"]
        ledger.anchor_pending(con, net, "r1", log=lambda m: None)
        first = certify.certify_many(con, net, [(h, "doc1")], "test", "r1", log=lambda m: None)[h]
        again = certify.certify_many(con, net, [(h, "doc1")], "test", "r2", log=lambda m: None)[h]
        assert first["status"] == again["status"] == "ok" and first["token_id"] == again["token_id"] == 1
        uri = net.token_uri(first["token_id"])
        body = json.loads(uri.split(",", 1)[1])
        assert body["content_hash"] == "0x" + h and json.loads(json.dumps(body["metadata"]))["doc_id"] == "doc1"
        assert con.execute("SELECT token_id, status FROM chain.certificates").fetchall() == [(1, "minted")]


def test_a_wrong_chain_id_or_a_bad_key_is_refused_without_echoing_it(tmp_path):
    bad = ChainResource(
        networks=[NetworkConfig(name="embedded", kind="embedded", state_path=str(tmp_path / "c.sqlite"), chain_id=1)],
        deployments_path=str(tmp_path / "d.json"),
    )
    with pytest.raises(ChainError, match="configured 1"):
        with bad.network("embedded"):
            pass
    secret = "0x" + "zz" * 32
    worse = ChainResource(
        networks=[
            NetworkConfig(name="embedded", kind="embedded", state_path=str(tmp_path / "c.sqlite"), private_key=secret)
        ],
        deployments_path=str(tmp_path / "d.json"),
    )
    with pytest.raises(ChainError) as info:
        with worse.network("embedded"):
            pass
    assert secret not in str(info.value) and "not a valid private key" in str(info.value)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def anvil(tmp_path):
    require(ANVIL.exists(), "Anvil is not installed (make install-test runs npm ci in contracts/)")
    port, state = free_port(), tmp_path / "anvil-state.json"
    proc = anvil_node.start(port, state)
    box = {"proc": proc, "port": port, "state": state}
    yield box
    box["proc"].terminate()
    box["proc"].wait(timeout=10)


def test_anchoring_certifying_and_verifying_on_a_real_anvil_node(tmp_path, anvil, monkeypatch):
    url = f"http://127.0.0.1:{anvil['port']}"
    monkeypatch.setenv("DWC_CHAINS", "embedded,anvil")
    monkeypatch.setenv("DWC_CHAIN_ANVIL_RPC_URL", url)
    monkeypatch.setenv("DWC_CHAIN_ANVIL_CHAIN_ID", "31337")
    monkeypatch.setenv("DWC_CHAIN_ANVIL_KEY", ANVIL_KEY)
    monkeypatch.setenv("DWC_HOME", str(tmp_path / "home"))
    from dwc_pipelines.resources import chain_resource

    chain = chain_resource().process_config_and_initialize()
    assert chain.names() == ["embedded", "anvil"]
    file = tmp_path / "memo.txt"
    file.write_bytes(b"A memo that is anchored on two chains at once.\n")
    h = hashlib.sha256(file.read_bytes()).hexdigest()
    con = warehouse(tmp_path / "w.duckdb", [h] + hashes(20))
    for name in chain.names():
        with chain.network(name) as net:
            out = ledger.anchor_pending(con, net, "r1", max_batch=8, log=lambda m: None)
            assert len(out) == 3 and all(o["gas_used"] <= 50_000 for o in out)
    with chain.network("anvil") as net:
        assert net.chain_id == 31337
        assert net.nonce("latest") == 1 + 3, "one deploy, one transaction per batch"
        minted = certify.certify_many(con, net, [(h, "doc0")], "test", "r1", log=lambda m: None)[h]
        assert minted["status"] == "ok"
    cur = con.execute("SELECT * FROM chain.proofs WHERE content_hash = ? AND network = 'anvil'", [h])
    proof = verify.export(dict(zip([d[0] for d in cur.description], cur.fetchall()[0])), "doc0")
    proof_file = tmp_path / "memo.proof.json"
    proof_file.write_text(json.dumps(proof))
    # Anvil restarted from its --state file: the anchor is still there, and the CLI verifies the
    # file from the proof alone, over JSON-RPC.
    time.sleep(1.5)  # --state-interval 1
    anvil["proc"].send_signal(signal.SIGINT)
    anvil["proc"].wait(timeout=10)
    anvil["proc"] = anvil_node.start(anvil["port"], anvil["state"])
    cli = [sys.executable, "-m", "dwc_pipelines.cli", "verify", str(file), "--proof", str(proof_file), "--rpc", url]
    out = subprocess.run(cli, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0 and "VERIFIED" in out.stdout and "chain id 31337" in out.stdout, out.stdout + out.stderr
    file.write_bytes(b"A memo that was changed after anchoring.\n")
    out = subprocess.run(cli, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 1 and "NOT VERIFIED" in out.stdout and "file was modified" in out.stdout


def test_a_signer_that_does_not_own_the_registry_gets_a_named_reason(tmp_path):
    con = warehouse(tmp_path / "w.duckdb", hashes(2))
    with embedded(tmp_path).network("embedded") as net:
        net.contract("AnchorRegistry")
    other = ChainResource(
        networks=[
            NetworkConfig(
                name="embedded",
                kind="embedded",
                state_path=str(tmp_path / "chain.sqlite"),
                private_key="0x" + "42" * 32,
            )
        ],
        deployments_path=str(tmp_path / "deployments.json"),
    )
    with other.network("embedded") as net:
        with pytest.raises(ChainError, match="NotOwner"):
            ledger.anchor_pending(con, net, "r", log=lambda m: None)
    assert con.execute("SELECT count(*) FROM chain.transactions").fetchall()[0][0] == 0, "nothing signed, nothing sent"


def test_a_keystore_signer_and_a_wrong_password(tmp_path):
    from eth_account import Account

    key = "0x" + "5e" * 32
    store = tmp_path / "key.json"
    store.write_text(json.dumps(Account.encrypt(key, "correct horse")))

    def chain(password):
        return ChainResource(
            networks=[
                NetworkConfig(
                    name="embedded",
                    kind="embedded",
                    state_path=str(tmp_path / "c.sqlite"),
                    keystore_path=str(store),
                    keystore_password=password,
                )
            ],
            deployments_path=str(tmp_path / "d.json"),
        )

    with chain("correct horse").network("embedded") as net:
        assert net.address == Account.from_key(key).address and net.balance() > 0, "funded on the embedded chain"
    with pytest.raises(ChainError) as info:
        with chain("wrong battery").network("embedded"):
            pass
    assert "wrong password" in str(info.value) and "wrong battery" not in str(info.value)


def test_the_proofs_and_certificates_assets_with_their_checks(env, instance):
    import dagster as dg

    from dwc_pipelines import anchoring

    for i in range(5):
        env.write(f"doc{i}.txt", f"Document number {i}, anchored with its siblings in one batch. " * 5)
    assert env.run_ingest(instance).success
    defs = dg.Definitions.merge(anchoring.defs, dg.Definitions(resources=env.resources()))
    result = defs.resolve_job_def("anchor_job").execute_in_process(instance=instance)
    assert result.success
    meta = result.get_asset_materialization_events()[0].step_materialization_data.materialization.metadata
    assert meta["documents_anchored_this_run"].value == 5 and meta["batches_anchored_this_run"].value == 1
    assert meta["gas_per_batch_max"].value <= 50_000
    checks = {
        e.asset_check_key.name: e.passed
        for e in (ev.event_specific_data for ev in result.all_events if ev.event_type_value == "ASSET_CHECK_EVALUATION")
    }
    assert checks == {"proofs_verify": True, "roots_on_chain": True, "no_pending_batches": True}
    again = defs.resolve_job_def("anchor_job").execute_in_process(instance=instance)
    assert (
        again.get_asset_materialization_events()[0]
        .step_materialization_data.materialization.metadata["batches_anchored_this_run"]
        .value
        == 0
    )
    doc_id = env.query("SELECT doc_id FROM docs.documents WHERE source_path = 'doc2.txt'")[0][0]
    minted = defs.resolve_job_def("certify_job").execute_in_process(
        instance=instance, run_config={"ops": {"chain__certificates": {"config": {"doc_ids": [doc_id]}}}}
    )
    assert minted.success
    assert env.query("SELECT doc_id, token_id, status FROM chain.certificates") == [(doc_id, 1, "minted")]
    unknown = defs.resolve_job_def("certify_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"chain__certificates": {"config": {"doc_ids": ["nope"]}}}},
    )
    assert not unknown.success


def test_the_node_dies_after_the_send_and_the_next_run_settles_the_batch(tmp_path, anvil):
    """A real RPC failure: Anvil SIGKILLed right after accepting the transaction (whether its state file
    kept it is up to timing); the run fails with a clear error; with the node back, the next run
    anchors the batch exactly once, whichever way it went."""
    url = f"http://127.0.0.1:{anvil['port']}"
    chain = ChainResource(
        networks=[
            NetworkConfig(name="anvil", rpc_url=url, private_key=ANVIL_KEY, retries=1, timeout_s=2, receipt_timeout_s=3)
        ],
        deployments_path=str(tmp_path / "deployments.json"),
    )
    con = warehouse(tmp_path / "w.duckdb", hashes(6))
    with chain.network("anvil") as net:
        net.contract("AnchorRegistry")
        time.sleep(1.5)  # the deployment reaches the state file
        with pytest.raises(ChainError, match="no answer"):
            ledger.anchor_pending(
                con, Faulty(net, "broadcast", "after", action=lambda: anvil["proc"].kill()), "r1", log=lambda m: None
            )
    anvil["proc"].wait(timeout=10)
    anvil["proc"] = anvil_node.start(anvil["port"], anvil["state"])
    with chain.network("anvil") as net:
        ledger.anchor_pending(con, net, "r2", log=lambda m: None)
        root = anchored_roots(con)
        assert len(root) == 1 and net.anchor_of(root[0])[0] > 0
        assert net.nonce("latest") == 2, "the deployment and one anchor"
