"""On-chain anchoring groundwork: domain-separated Merkle trees (pure) and the contracts, whose
committed artifacts must be what the sources compile to (solc-js from npm, offline)."""

import hashlib
import json
import shutil
import subprocess

import pytest

from dwc_pipelines.anchoring import merkle

from .conftest import ROOT, require

H = [hashlib.sha256(f"doc {i}".encode()).hexdigest() for i in range(13)]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 13])
def test_every_document_proves_against_the_root(n):
    tree = merkle.build(H[:n])
    for h in H[:n]:
        proof = tree.proof(h)
        assert merkle.verify(h, proof, tree.root)
        assert merkle.verify(h, [s.as_dict() for s in proof], "0x" + tree.root), "the exported form verifies too"
    assert not merkle.verify(H[n] if n < len(H) else hashlib.sha256(b"x").hexdigest(), tree.proof(H[0]), tree.root)


def test_roots_are_deterministic_and_separate_leaves_from_nodes():
    assert merkle.build(H[:5]).root == merkle.build(list(reversed(H[:5])) + [H[0].upper()]).root
    assert merkle.build(H[:5]).root != merkle.build(H[:4]).root
    # By hand, for two leaves: sha256(0x01 || sha256(0x00 || a) || sha256(0x00 || b)).
    a, b = sorted(H[:2])
    leaf = lambda h: hashlib.sha256(b"\x00" + bytes.fromhex(h)).digest()  # noqa: E731
    assert merkle.build([a, b]).root == hashlib.sha256(b"\x01" + leaf(a) + leaf(b)).hexdigest()
    # The second-preimage trick: an inner node presented as a leaf with a shorter proof fails.
    tree = merkle.build(H[:4])
    inner = tree.levels[1][0].hex()
    assert not merkle.verify(inner, [merkle.Step("right", tree.levels[1][1].hex())], tree.root)
    # An odd node moves up unchanged (never paired with a copy of itself).
    x, y, z = sorted(H[:3])
    node = lambda a, b: hashlib.sha256(b"\x01" + a + b).digest()  # noqa: E731
    assert merkle.build(H[:3]).root == node(node(leaf(x), leaf(y)), leaf(z)).hex()


def test_forged_and_malformed_proofs_fail():
    tree = merkle.build(H[:8])
    proof = [s.as_dict() for s in tree.proof(H[3])]
    forged = [dict(p) for p in proof]
    key = next(iter(forged[0]))
    forged[0][key] = "00" * 32
    assert not merkle.verify(H[3], forged, tree.root)
    assert not merkle.verify(H[3], proof[:-1], tree.root)
    assert not merkle.verify(H[3], [{"up": "00" * 32}], tree.root)
    assert not merkle.verify("not hex", proof, tree.root)
    assert merkle.batch_id(31337, tree.root) == merkle.batch_id(31337, tree.root) != merkle.batch_id(1, tree.root)


def test_contract_artifacts_match_their_sources():
    node = shutil.which("node")
    require(node is not None, "node is not installed (Debian: nodejs)")
    require(
        (ROOT / "contracts" / "node_modules" / "solc").is_dir(),
        "solc-js is not installed (make install-test runs npm ci in contracts/)",
    )
    out = subprocess.run(
        [node, "compile.js", "--check"], cwd=ROOT / "contracts", capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ("AnchorRegistry", "DwcCertificate"):
        artifact = json.loads((ROOT / "contracts" / "artifacts" / f"{name}.json").read_text())
        assert artifact["bytecode"].startswith("0x60") and artifact["compiler"].startswith("solc-js 0.8.37")
    abi = {
        f["name"]
        for f in json.loads((ROOT / "contracts" / "artifacts" / "AnchorRegistry.json").read_text())["abi"]
        if "name" in f
    }
    assert {"anchor", "anchorOf", "Anchored", "AlreadyAnchored", "EmptyBatch"} <= abi
