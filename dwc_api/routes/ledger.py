"""Blockchain calls over the anchoring resources: declared chains (probed over JSON-RPC), wallets
(encrypted keystores), contracts (compiled with the pinned solc-js), certificate NFTs (certify_job)
and workflow transactions (a JSON record landed as a document, so it is ingested and anchored)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..deps import require, service
from ..security import Principal
from ..settings import api_home
from .common import Declared, Stats, atomic_write, declare, get_declared

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"


class BlockchainIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    blockchain_type: str = Field(default="ethereum", pattern="^(ethereum|evm)$")
    rpc_url: str | None = Field(default=None, max_length=512, pattern=r"^https?://")
    chain_id: int | None = Field(default=None, ge=1, le=2**53)
    gas_price: int | None = Field(default=None, ge=0)
    gas_limit: int | None = Field(default=None, ge=21000, le=60_000_000)


class WalletIn(BaseModel):
    blockchain_id: str = Field(max_length=64)
    wallet_name: str = Field(min_length=1, max_length=128)


class ContractIn(BaseModel):
    blockchain_id: str = Field(max_length=64)
    wallet_id: str = Field(max_length=64)
    contract_name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    contract_code: str = Field(min_length=1, max_length=200_000)


class NftMetadata(BaseModel):
    name: str = Field(default="", max_length=256)
    description: str = Field(default="", max_length=4096)
    content_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="the document certified")


class NftIn(BaseModel):
    blockchain_id: str = Field(max_length=64)
    wallet_id: str = Field(max_length=64)
    contract_id: str | None = Field(default=None, max_length=64)
    token_uri: str = Field(default="", max_length=2048)
    metadata: NftMetadata = NftMetadata()


class WorkflowTxIn(BaseModel):
    blockchain_id: str = Field(max_length=64)
    wallet_id: str = Field(max_length=64)
    workflow_id: str = Field(min_length=1, max_length=128)
    workflow_data: dict = Field(default_factory=dict)


def _probe(rpc_url: str, expected: int | None) -> dict:
    from web3 import HTTPProvider, Web3

    try:
        w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 3}))
        observed = int(w3.eth.chain_id)
        return {"reachable": True, "observed_chain_id": observed, "chain_id_matches": expected in (None, observed)}
    except Exception as exc:
        return {"reachable": False, "probe_error": f"{type(exc).__name__}: {str(exc)[:160]}"}


def _configured_network(platform, name: str, chain_id: int | None) -> str | None:
    chain = platform.resources["chain"]
    for net in chain.networks:
        if net.name == name or (chain_id is not None and net.chain_id == chain_id):
            return net.name
    return None


def _compile(name: str, source: str) -> dict:
    if not (CONTRACTS_DIR / "node_modules" / "solc").is_dir():
        return {"compile_status": "not_compiled", "compile_errors": ["solc-js is not installed (npm ci in contracts/)"]}
    try:
        out = subprocess.run(
            ["node", "compile_source.js"],
            input=json.dumps({"name": name, "source": source}),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=CONTRACTS_DIR,
        )
        result = json.loads(out.stdout)
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        return {"compile_status": "not_compiled", "compile_errors": [f"{type(exc).__name__}: {exc}"[:300]]}
    if result.get("errors"):
        return {"compile_status": "failed", "compile_errors": result["errors"][:20], "compiler": result.get("compiler")}
    contracts = {
        cname: {"abi": c["abi"], "bytecode_sha256": hashlib.sha256(c["bytecode"].encode()).hexdigest()}
        for cname, c in result["contracts"].items()
    }
    return {"compile_status": "compiled", "compiler": result.get("compiler"), "contracts": contracts}


def _wallet_password(secret: str, address: str) -> str:
    return hashlib.sha256(f"dwc-wallet:{secret}:{address}".encode()).hexdigest()


def routers():
    r = APIRouter(prefix="/api/v3/blockchain", tags=["blockchain"])

    @r.post("/blockchains", response_model=Declared, status_code=201)
    async def create_chain(
        body: BlockchainIn, request: Request, principal: Principal = Depends(require("ledger:write"))
    ):
        """Declare a chain; its RPC endpoint is probed and matched to the anchoring resource's networks."""
        platform = service(request).platform
        probe = await run_in_threadpool(_probe, body.rpc_url, body.chain_id) if body.rpc_url else {"reachable": None}
        configured = _configured_network(platform, body.name, body.chain_id)
        return declare(request, "blockchain", body.model_dump(), principal, **probe, anchoring_network=configured)

    @r.get("/blockchains/{blockchain_id}", response_model=Declared)
    async def get_chain(blockchain_id: str, request: Request, principal: Principal = Depends(require("ledger:read"))):
        return get_declared(request, "blockchain", blockchain_id)

    @r.post("/wallets", response_model=Declared, status_code=201)
    async def create_wallet(body: WalletIn, request: Request, principal: Principal = Depends(require("ledger:write"))):
        """A new account; its key is kept as an encrypted keystore under DWC_HOME and never returned."""
        get_declared(request, "blockchain", body.blockchain_id)
        svc = service(request)

        def make():
            from eth_account import Account

            account = Account.create()
            keystore = Account.encrypt(account.key, _wallet_password(svc.settings.secret, account.address))
            folder = api_home() / "wallets"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{account.address}.json"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(keystore, f)
            return account.address

        address = await run_in_threadpool(make)
        return declare(request, "wallet", body.model_dump(), principal, address=address, keystore="encrypted")

    @r.post("/smart-contracts", response_model=Declared, status_code=201)
    async def create_contract(
        body: ContractIn, request: Request, principal: Principal = Depends(require("ledger:write"))
    ):
        """Compile a Solidity source with the pinned solc-js; the ABI and bytecode hash are recorded."""
        get_declared(request, "blockchain", body.blockchain_id)
        get_declared(request, "wallet", body.wallet_id)
        compiled = await run_in_threadpool(_compile, body.contract_name, body.contract_code)
        fields = body.model_dump(exclude={"contract_code"})
        fields["source_sha256"] = hashlib.sha256(body.contract_code.encode()).hexdigest()
        return declare(request, "contract", fields, principal, **compiled)

    @r.post("/nfts", response_model=Declared, status_code=201)
    async def create_nft(body: NftIn, request: Request, principal: Principal = Depends(require("ledger:write"))):
        """A certificate NFT: with metadata.content_hash (an anchored document) certify_job mints it; without,
        the request is recorded and waits for a document."""
        chain = get_declared(request, "blockchain", body.blockchain_id)
        get_declared(request, "wallet", body.wallet_id)
        svc = service(request)
        state = {
            "metadata_sha256": hashlib.sha256(
                json.dumps(body.metadata.model_dump(), sort_keys=True).encode()
            ).hexdigest()
        }
        if body.metadata.content_hash:
            config = {"content_hashes": [body.metadata.content_hash], "network": chain.get("anchoring_network")}
            run = await run_in_threadpool(
                svc.platform.launch,
                "certify_job",
                {"ops": {"chain__certificates": {"config": config}}},
                {"dwc/api": "nft"},
            )
            state.update(status="minting", run=run)
        else:
            state.update(status="recorded", note="give metadata.content_hash of an anchored document to mint")
        return declare(request, "nft", body.model_dump(), principal, **state)

    @r.post("/workflow-transactions", response_model=Declared, status_code=201)
    async def workflow_tx(
        body: WorkflowTxIn, request: Request, principal: Principal = Depends(require("ledger:write"))
    ):
        """The workflow data as a canonical JSON record in the landing zone: ingested like any document and
        anchored by the anchoring job; its proof is on GET /documents/{id}."""
        from dwc_pipelines.ingestion.ingest import doc_id_for

        get_declared(request, "blockchain", body.blockchain_id)
        get_declared(request, "wallet", body.wallet_id)
        svc = service(request)
        record = json.dumps(
            {"workflow_id": body.workflow_id, "workflow_data": body.workflow_data, "recorded_at": time.time()},
            sort_keys=True,
            default=str,
        ).encode()
        digest = hashlib.sha256(record).hexdigest()
        relpath = f"api/workflow-transactions/{digest[:16]}.json"
        landing = svc.platform.resources["landing"].path
        atomic_write(Path(landing) / relpath, record)
        doc_id = doc_id_for(relpath)
        await svc.hub.publish({"topic": "documents", "type": "document_uploaded", "doc_id": doc_id})
        return declare(
            request,
            "workflow_tx",
            body.model_dump(),
            principal,
            content_hash=digest,
            doc_id=doc_id,
            status="pending_anchor",
            proof_url=f"{svc.settings.public_url}/api/v3/documents/{doc_id}",
        )

    @r.get("/stats", response_model=Stats)
    async def stats(request: Request, principal: Principal = Depends(require("ledger:read"))):
        """Declared chains, wallets, contracts, NFTs and transactions; anchored documents per network."""
        svc = service(request)
        out = {k: svc.objects(k).count() for k in ("blockchain", "wallet", "contract", "nft", "workflow_tx")}

        def anchored():
            try:
                with svc.platform.reader(masked=True) as con:
                    return dict(con.execute("SELECT network, count(*) FROM chain.proofs GROUP BY 1").fetchall())
            except Exception:
                return {}

        out["anchored_documents"] = await run_in_threadpool(anchored)
        out["configured_networks"] = [n.name for n in svc.platform.resources["chain"].networks]
        return out

    return [r]
