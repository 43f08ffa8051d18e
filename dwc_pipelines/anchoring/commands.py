"""`dwc verify`, `dwc proof`, `dwc trace`, `dwc certify`, `dwc ledger deploy`: the on-chain (blockchain ledger) commands."""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from dwc_resources.chain import ChainError, ChainResource, NetworkConfig

from ..cli_support import dagster_instance, fail, read_analyst, run_job
from . import trace as tracing
from . import verify as verifying


def _chain() -> ChainResource:
    from dwc_pipelines.resources import chain_resource

    return chain_resource().process_config_and_initialize()  # dg.EnvVar fields read


def _proof_rows(con, content_hash: str, network: str | None) -> list[dict]:
    try:
        cur = con.execute(
            """SELECT p.*, (SELECT min(doc_id) FROM docs.documents d WHERE d.content_hash = p.content_hash) AS doc_id
               FROM chain.proofs p WHERE content_hash = ? AND (? IS NULL OR network = ?) ORDER BY block_timestamp""",
            [content_hash, network, network],
        )
    except Exception:  # nothing anchored yet
        return []
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _network_for(chain: ChainResource, anchor: dict, network: str | None, rpc: str | None, stack: ExitStack):
    """The chain a proof names: --rpc, --network, the configured one of the proof's name, or of its chain id."""
    if rpc:
        adhoc = ChainResource(
            networks=[NetworkConfig(name=anchor.get("network") or "rpc", kind="rpc", rpc_url=rpc)],
            deployments_path=os.devnull,
        )
        return stack.enter_context(adhoc.network(adhoc.names()[0], read_only=True))
    name = network or anchor.get("network")
    if name in chain.names():
        return stack.enter_context(chain.network(name, read_only=True))
    for candidate in chain.names():
        if chain.config_of(candidate).chain_id == anchor.get("chain_id"):
            return stack.enter_context(chain.network(candidate, read_only=True))
    raise ChainError(
        f"the proof is anchored on {name!r} (chain id {anchor.get('chain_id')}), which is not configured "
        f"here (configured: {', '.join(chain.names())}): give --rpc URL or set DWC_CHAINS"
    )


def _print_verdict(path: str, content_hash: str, offline, online) -> int:
    if not offline.ok or online is None or not online.ok:
        reasons = offline.reasons + (online.reasons if online is not None else [])
        print(f"NOT VERIFIED  {path}\n  sha256       {content_hash}")
        for r in reasons:
            print(f"  reason       {r}")
        return 1
    f = online.facts
    print(
        f"VERIFIED  {path}\n  sha256       {content_hash}\n  anchored     {f['anchored_at']} in block {f['block_number']} "
        f"on {f['network']} (chain id {f['chain_id']})\n  contract     {f['contract']}\n  transaction  {f['tx_hash']}"
        f"\n  batch        root {offline.facts['root']} of {f['document_count']} documents"
    )
    if f.get("explorer"):
        print(f"  explorer     {f['explorer']}")
    return 0


def cmd_verify(args) -> int:
    if not os.path.isfile(args.file):
        return fail("verify", f"no file {args.file}")
    content_hash = verifying.sha256_file(args.file)
    try:
        if args.proof:
            try:
                proofs = [json.loads(Path(args.proof).read_text())]
            except (OSError, ValueError) as exc:
                return fail("verify", f"cannot read the proof {args.proof}: {exc}")
        else:
            with read_analyst() as con:
                proofs = [verifying.export(r, r["doc_id"]) for r in _proof_rows(con, content_hash, args.network)]
                if not proofs:
                    return _explain_missing(con, args.file, content_hash)
        chain = _chain() if not args.rpc else None
        status = 1
        for proof in proofs:
            offline = verifying.check_offline(content_hash, proof)
            online = None
            if offline.ok:
                with ExitStack() as stack:
                    net = _network_for(chain, proof["anchor"], args.network, args.rpc, stack)
                    online = verifying.check_on_chain(proof, net)
            status = min(status, _print_verdict(args.file, content_hash, offline, online))
        return status
    except (ChainError, FileNotFoundError) as exc:
        print(f"NOT VERIFIED  {args.file}\n  reason       {exc}")
        return 1


def _explain_missing(con, path: str, content_hash: str) -> int:
    name = os.path.basename(path)
    known = con.execute(
        """SELECT d.source_path, d.content_hash, d.version FROM docs.documents d
           WHERE d.is_current AND (d.source_path = ? OR d.source_path LIKE ?) ORDER BY d.source_path LIMIT 3""",
        [name, f"%/{name}"],
    ).fetchall()
    print(f"NOT VERIFIED  {path}\n  sha256       {content_hash}")
    if known:
        for src, h, v in known:
            print(
                f"  reason       no proof for these bytes; {src} (v{v}) was anchored with sha256 {h}: "
                "the file was modified since"
            )
    else:
        print("  reason       no proof for these bytes: they were never ingested, or not anchored yet (chain/proofs)")
    return 1


def _resolve(con, target: str) -> tuple[str | None, str | None]:
    """(content hash, doc_id) of a file path or a doc_id."""
    if os.path.isfile(target):
        return verifying.sha256_file(target), None
    row = con.execute("SELECT content_hash FROM docs.documents WHERE doc_id = ? AND is_current", [target]).fetchall()
    return (row[0][0], target) if row else (None, target)


def cmd_proof(args) -> int:
    with read_analyst() as con:
        content_hash, doc_id = _resolve(con, args.target)
        rows = _proof_rows(con, content_hash, args.network) if content_hash else []
        if rows and doc_id is None:  # a file: the document of that name, where several have these bytes
            named = con.execute(
                "SELECT doc_id FROM docs.documents WHERE content_hash = ? AND is_current AND "
                "(source_path = ? OR source_path LIKE ?) ORDER BY length(source_path) LIMIT 1",
                [content_hash, os.path.basename(args.target), f"%/{os.path.basename(args.target)}"],
            ).fetchall()
            doc_id = named[0][0] if named else None
    if not rows:
        return fail("proof", f"no proof for {args.target} (not ingested, or not anchored yet)")
    proof = verifying.export(rows[-1], doc_id or rows[-1]["doc_id"])
    text = json.dumps(proof, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text)
        print(
            f"wrote {args.output} ({len(text)} bytes; {len(proof['path'])} path steps, root {proof['merkle_root'][:16]}…)"
        )
    else:
        sys.stdout.write(text)
    return 0


def cmd_trace(args) -> int:
    file_hash = verifying.sha256_file(args.target) if os.path.isfile(args.target) else None
    run_info = _run_lookup()
    try:
        with read_analyst() as con:
            found, text = tracing.story(con, file_hash, None if file_hash else args.target, run_info)
    except FileNotFoundError as exc:
        found, text = False, str(exc)
    if not found:
        return fail("trace", text)
    print(text)
    return 0


def _run_lookup():
    try:
        instance = dagster_instance()
    except Exception:  # no instance here: runs are listed by id only
        return lambda run_id: None

    def info(run_id: str) -> str | None:
        record = instance.get_run_record_by_id(run_id)
        if record is None:
            return None
        run = record.dagster_run
        started = ""
        if record.start_time:
            started = f", started {datetime.fromtimestamp(record.start_time, UTC):%Y-%m-%d %H:%M:%S} UTC"
        return f"{run.job_name}: {run.status.value}{started}"

    return info


def cmd_certify(args) -> int:
    with read_analyst() as con:
        content_hash, doc_id = _resolve(con, args.target)
    if content_hash is None:
        return fail("certify", f"{args.target} is neither a file nor a current doc_id")
    config = {"content_hashes": [content_hash], "network": args.network, "recipient": args.to}
    return run_job("certify_job", {"ops": {"chain__certificates": {"config": config}}})


def cmd_chain_deploy(args) -> int:
    chain = _chain()
    try:
        with chain.network(args.network) as net:
            for name, var in (("AnchorRegistry", "REGISTRY"), ("DwcCertificate", "CERTIFICATE")):
                contract = net.contract(name, deploy=False) if not args.force else None
                if contract is None:
                    contract = net.deploy_now(name)
                    print(f"deployed {name} at {contract.address} on {net.name} (chain id {net.chain_id})")
                else:
                    print(f"{name} is already at {contract.address} on {net.name}")
                print(f"  export DWC_CHAIN_{net.name.upper()}_{var}={contract.address}")
    except ChainError as exc:
        return fail("ledger deploy", str(exc))
    return 0


def register(sub) -> None:
    p = sub.add_parser("verify", help="check a file against its on-chain proof (from the warehouse, or --proof FILE)")
    p.add_argument("file")
    p.add_argument("--proof", help="a dwc-proof/1 JSON file: verify without the warehouse")
    p.add_argument("--network", help="only this configured chain")
    p.add_argument("--rpc", help="JSON-RPC URL of the proof's chain, when it is not configured here")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("proof", help="export a document's proof as portable JSON (dwc-proof/1)")
    p.add_argument("target", help="a file or a doc_id")
    p.add_argument("-o", "--output")
    p.add_argument("--network")
    p.set_defaults(func=cmd_proof)
    p = sub.add_parser("trace", help="the whole story of a document: versions, runs, derived rows, on-chain proof")
    p.add_argument("target", help="a file or a doc_id")
    p.set_defaults(func=cmd_trace)
    p = sub.add_parser("certify", help="mint a certificate NFT for an anchored document (runs certify_job)")
    p.add_argument("target", help="a file or a doc_id")
    p.add_argument("--network")
    p.add_argument("--to", help="recipient address (default: the signer)")
    p.set_defaults(func=cmd_certify)
    # "ledger", not "chain": `dwc chains` is the workflow chains.
    p = sub.add_parser("ledger", help="the blockchain ledger's contracts (anchoring; formerly `dwc chain`)")
    chain_sub = p.add_subparsers(dest="ledger_command", required=True)
    d = chain_sub.add_parser("deploy", help="deploy the registry and certificate contracts on a configured chain")
    d.add_argument("--network", required=True)
    d.add_argument("--force", action="store_true", help="deploy new ones even where DWC knows deployed contracts")
    d.set_defaults(func=cmd_chain_deploy)
