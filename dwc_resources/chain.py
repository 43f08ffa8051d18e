"""EVM chains by configuration alone: the embedded in-process chain, Anvil, or any JSON-RPC endpoint.

`ChainResource` holds one `NetworkConfig` per chain (several at once: a local one and Sepolia, say).
Signing happens here, with a key from `dg.EnvVar` or an encrypted keystore whose password comes from
one; transactions are signed locally and sent raw, so their hash is known before they leave (the
anchoring ledger records it first) and a retry re-sends the very same bytes. Keys never leave this
module: `Network` keeps the account object, and nothing here formats it into a message.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

ARTIFACTS = Path(__file__).resolve().parents[1] / "contracts" / "artifacts"
# Chains whose contracts DWC deploys on first use: the embedded one, Anvil/Hardhat defaults.
DEV_CHAIN_IDS = {31337, 1337, 131277322940537}


class ChainError(RuntimeError):
    """A chain answered, but not as expected (wrong chain id, a revert, no contract)."""


class NetworkConfig(dg.Config):
    name: str = Field(description="How DWC names this chain (rows in chain.* carry it)")
    kind: str = Field(default="rpc", description="embedded (in-process py-evm, kept in state_path) or rpc")
    rpc_url: str | None = Field(default=None, description="JSON-RPC endpoint (http/https) for kind=rpc")
    chain_id: int | None = Field(default=None, description="Expected chain id; a node answering another one is refused")
    private_key: str | None = Field(default=None, description="Signer key (hex); set it with dg.EnvVar only")
    keystore_path: str | None = Field(default=None, description="Encrypted JSON keystore (instead of private_key)")
    keystore_password: str | None = Field(default=None, description="Its password; set it with dg.EnvVar only")
    state_path: str | None = Field(default=None, description="SQLite file of the embedded chain")
    registry_address: str | None = Field(
        default=None, description="AnchorRegistry address (else the recorded deployment)"
    )
    certificate_address: str | None = Field(
        default=None, description="DwcCertificate address (else the recorded deployment)"
    )
    auto_deploy: bool | None = Field(
        default=None, description="Deploy missing contracts (default: on development chains only)"
    )
    confirmations: int = Field(default=0, description="Blocks on top of an anchor before it is recorded as final")
    timeout_s: float = Field(default=30.0, description="Per JSON-RPC request")
    receipt_timeout_s: float = Field(
        default=120.0, description="How long a run waits for a receipt before leaving it pending"
    )
    retries: int = Field(default=4, description="Retries of a failed request (exponential backoff with jitter)")
    explorer_url: str | None = Field(
        default=None, description="Block explorer base URL, for links (https://sepolia.etherscan.io)"
    )


@dataclass
class Signed:
    tx_hash: str
    raw: str
    nonce: int


def _hex(value) -> str:
    return value.hex() if isinstance(value, (bytes, bytearray)) else str(value)


def hex0x(value) -> str:
    h = _hex(value)
    return h if h.startswith("0x") else "0x" + h


def artifact(name: str) -> dict:
    path = ARTIFACTS / f"{name}.json"
    if not path.exists():
        raise ChainError(f"no compiled contract at {path} (node contracts/compile.js builds it)")
    return json.loads(path.read_text())


def retrying(call, retries: int, what: str, sleep=time.sleep):
    """`call()` with bounded retries, exponential backoff and full jitter on connection-level errors."""
    import requests

    transient = (ConnectionError, TimeoutError, OSError, requests.exceptions.RequestException)
    for attempt in range(retries + 1):
        try:
            return call()
        except transient as exc:
            if attempt == retries:
                raise ChainError(
                    f"{what}: no answer after {retries + 1} attempts ({type(exc).__name__}: {exc})"
                ) from exc
            sleep(random.uniform(0, min(8.0, 0.25 * 2**attempt)))


class Network:
    """One connected chain: the signer, the two contracts, and the calls the ledger needs."""

    def __init__(self, config: NetworkConfig, w3, account, deployments_path: str):
        self.config, self.w3, self._account = config, w3, account
        self.name = config.name
        self.chain_id = int(retrying(lambda: w3.eth.chain_id, config.retries, f"{self.name}: eth_chainId"))
        if config.chain_id is not None and config.chain_id != self.chain_id:
            raise ChainError(f"{self.name}: the node answers chain id {self.chain_id}, configured {config.chain_id}")
        self.address = account.address if account is not None else None
        self._deployments_path = deployments_path
        # Deployments are recorded per chain id and genesis: a chain reset since is a new chain.
        self._key = f"{self.chain_id}:{hex0x(w3.eth.get_block(0)['hash'])}"
        self._contracts = {
            "AnchorRegistry": self._find("AnchorRegistry", config.registry_address),
            "DwcCertificate": self._find("DwcCertificate", config.certificate_address),
        }

    # Contracts

    def _recorded(self) -> dict:
        p = Path(self._deployments_path)
        text = p.read_text() if p.is_file() else ""
        return json.loads(text) if text.strip() else {}

    def _find(self, name: str, configured: str | None):
        """The deployed contract, or None: configured address first, then the recorded deployment."""
        address = configured or self._recorded().get(self._key, {}).get(name)
        if address and len(self.w3.eth.get_code(address)) == 0:
            if configured:
                raise ChainError(f"{self.name}: no contract at the configured {name} address {address}")
            address = None  # a recorded deployment on a chain that was reset since
        return self.w3.eth.contract(address=address, abi=artifact(name)["abi"]) if address else None

    def contract(self, name: str, deploy: bool = True):
        """The web3 contract `name` on this chain; deployed first when missing and `deploy` allows it."""
        if self._contracts[name] is None and deploy:
            self._contracts[name] = self._deploy(name)
        return self._contracts[name]

    def _deploy(self, name: str):
        auto = self.config.auto_deploy if self.config.auto_deploy is not None else self.chain_id in DEV_CHAIN_IDS
        if not auto:
            var = "REGISTRY" if name == "AnchorRegistry" else "CERTIFICATE"
            raise ChainError(
                f"{self.name}: no {name} address configured (set DWC_CHAIN_{self.name.upper()}_{var}, "
                f"or deploy it with `dwc ledger deploy --network {self.name}`)"
            )
        return self.deploy_now(name)

    def deploy_now(self, name: str):
        self._need_signer()
        art = artifact(name)
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        tx = factory.constructor().build_transaction(
            {"from": self.address, "nonce": self.nonce(), "chainId": self.chain_id}
        )
        signed = self._account.sign_transaction(tx)
        self.broadcast(hex0x(signed.raw_transaction))
        receipt = self.wait(hex0x(signed.hash), self.config.receipt_timeout_s)
        if receipt is None or receipt["status"] != 1:
            raise ChainError(f"{self.name}: deploying {name} failed ({receipt and receipt['status']})")
        recorded = self._recorded()
        recorded.setdefault(self._key, {})[name] = receipt["contractAddress"]
        p = Path(self._deployments_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(recorded, indent=2, sort_keys=True))
        os.replace(tmp, p)
        self._contracts[name] = self.w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])
        return self._contracts[name]

    # Account

    def _need_signer(self):
        if self._account is None:
            raise ChainError(f"{self.name}: no signer configured (DWC_CHAIN_<NAME>_KEY or a keystore)")

    def nonce(self, block: str = "pending") -> int:
        return retrying(
            lambda: self.w3.eth.get_transaction_count(self.address, block),
            self.config.retries,
            f"{self.name}: eth_getTransactionCount",
        )

    def balance(self) -> int:
        return self.w3.eth.get_balance(self.address)

    def _sign(self, call, nonce: int) -> Signed:
        self._need_signer()
        try:
            tx = call.build_transaction({"from": self.address, "nonce": nonce, "chainId": self.chain_id})
        except Exception as exc:  # the gas estimate reverted: say which of the contract's errors
            reason = _revert_reason(call, exc)
            if reason is None:
                raise
            raise ChainError(f"{self.name}: {call.address} refuses {call.fn_name}: {reason}") from None
        signed = self._account.sign_transaction(tx)
        return Signed(hex0x(signed.hash), hex0x(signed.raw_transaction), nonce)

    def sign_anchor(self, root: str, document_count: int, manifest_hash: str, nonce: int) -> Signed:
        return self._sign(
            self.contract("AnchorRegistry").functions.anchor(
                bytes.fromhex(root), document_count, bytes.fromhex(manifest_hash)
            ),
            nonce,
        )

    def sign_certify(self, to: str | None, content_hash: str, root: str, metadata: str, nonce: int) -> Signed:
        return self._sign(
            self.contract("DwcCertificate").functions.certify(
                to or self.address, bytes.fromhex(content_hash), bytes.fromhex(root), metadata
            ),
            nonce,
        )

    # Transactions

    def broadcast(self, raw: str) -> None:
        """Send signed bytes; a node that already has them (a retry) is not an error."""

        def send():
            try:
                self.w3.eth.send_raw_transaction(raw)
            except ValueError as exc:  # JSON-RPC errors
                text = str(exc).lower()
                if "already known" in text or "already imported" in text or "known transaction" in text:
                    return
                raise

        retrying(send, self.config.retries, f"{self.name}: eth_sendRawTransaction")

    def receipt(self, tx_hash: str) -> dict | None:
        from web3.exceptions import TransactionNotFound

        def get():
            try:
                return dict(self.w3.eth.get_transaction_receipt(tx_hash))
            except TransactionNotFound:
                return None

        return retrying(get, self.config.retries, f"{self.name}: eth_getTransactionReceipt")

    def wait(self, tx_hash: str, timeout_s: float) -> dict | None:
        """The receipt once mined (and `confirmations` deep), or None when it is still pending at the timeout."""
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        while True:
            r = self.receipt(tx_hash)
            if r is not None and self.block_number() - r["blockNumber"] >= self.config.confirmations:
                return r
            if time.monotonic() > deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def block_number(self) -> int:
        return retrying(lambda: self.w3.eth.block_number, self.config.retries, f"{self.name}: eth_blockNumber")

    def block_timestamp(self, number: int) -> int:
        return int(
            retrying(
                lambda: self.w3.eth.get_block(number)["timestamp"],
                self.config.retries,
                f"{self.name}: eth_getBlockByNumber",
            )
        )

    # Reads

    def anchor_of(self, root: str) -> tuple[int, int, int]:
        """(block number, block timestamp, document count) of an anchored root; block 0 when absent."""
        registry = self.contract("AnchorRegistry", deploy=False)
        if registry is None:
            return (0, 0, 0)
        return tuple(
            retrying(
                lambda: registry.functions.anchorOf(bytes.fromhex(root)).call(),
                self.config.retries,
                f"{self.name}: anchorOf",
            )
        )

    def anchor_tx_of(self, root: str, block: int) -> str | None:
        """The transaction that anchored `root` in `block` (one block's logs: never a scan from block 0)."""
        from eth_utils import keccak

        registry = self.contract("AnchorRegistry", deploy=False)
        logs = retrying(
            lambda: self.w3.eth.get_logs(
                {
                    "address": registry.address,
                    "fromBlock": block,
                    "toBlock": block,
                    "topics": [hex0x(keccak(text="Anchored(bytes32,uint64,bytes32)")), "0x" + root],
                }
            ),
            self.config.retries,
            f"{self.name}: eth_getLogs",
        )
        return hex0x(logs[0]["transactionHash"]) if logs else None

    def token_of(self, content_hash: str) -> int:
        cert = self.contract("DwcCertificate", deploy=False)
        if cert is None:
            return 0
        return int(cert.functions.tokenOfContent(bytes.fromhex(content_hash)).call())

    def token_uri(self, token_id: int) -> str:
        return self.contract("DwcCertificate", deploy=False).functions.tokenURI(token_id).call()

    def explorer_link(self, tx_hash: str) -> str | None:
        return f"{self.config.explorer_url.rstrip('/')}/tx/{tx_hash}" if self.config.explorer_url else None


class ChainResource(dg.ConfigurableResource):
    """Every configured EVM chain; `network(name)` connects one for the duration of a block."""

    networks: list[NetworkConfig] = Field(description="The chains DWC anchors on")
    deployments_path: str = Field(description="JSON record of the contracts DWC deployed, by chain id and genesis")

    @classmethod
    def local(cls) -> ChainResource:
        from .lakehouse import dwc_home

        home = os.path.join(dwc_home(), "chain")
        return cls(
            networks=[
                NetworkConfig(name="embedded", kind="embedded", state_path=os.path.join(home, "embedded.sqlite"))
            ],
            deployments_path=os.path.join(home, "deployments.json"),
        )

    def names(self) -> list[str]:
        return [n.name for n in self.networks]

    def config_of(self, name: str) -> NetworkConfig:
        for n in self.networks:
            if n.name == name:
                return n
        raise ChainError(f"no chain named {name!r} is configured (configured: {', '.join(self.names())})")

    @contextmanager
    def network(self, name: str, read_only: bool = False) -> Iterator[Network]:
        config = self.config_of(name)
        if config.kind == "embedded":
            from . import evm

            state = config.state_path or os.path.join(os.path.dirname(self.deployments_path), f"{name}.sqlite")
            lock = evm.writer_lock(state) if not read_only else nullcontext()
            with lock:
                w3, kv = evm.embedded_web3(state, read_only=read_only)
                try:
                    account = _account(config, default_key=evm.DEV_KEY)
                    if not read_only:
                        evm.fund(w3, account.address)
                    yield Network(config, w3, account, self.deployments_path)
                finally:
                    kv.close()
        elif config.kind == "rpc":
            if not config.rpc_url:
                raise ChainError(f"{name}: kind=rpc needs rpc_url (DWC_CHAIN_{name.upper()}_RPC_URL)")
            from web3 import HTTPProvider, Web3

            w3 = Web3(HTTPProvider(config.rpc_url, request_kwargs={"timeout": config.timeout_s}))
            yield Network(config, w3, _account(config), self.deployments_path)
        else:
            raise ChainError(f"{name}: kind must be embedded or rpc, not {config.kind!r}")


def _revert_reason(call, exc) -> str | None:
    """The custom error a revert carries, by name (NotOwner, AlreadyAnchored, ...), or None."""
    import ast
    import re

    from eth_utils import keccak

    found = [str(getattr(exc, "data", "") or "")]
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, bytes):
            found.append(arg.hex())
        elif isinstance(arg, str):
            found.append(arg)
            for literal in re.findall(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"", arg):
                try:
                    found.append(ast.literal_eval(literal).hex())
                except (ValueError, SyntaxError):
                    pass
    text = " ".join(found).replace("0x", "")
    for item in getattr(call, "contract_abi", None) or []:
        if item.get("type") == "error":
            sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            if keccak(text=sig)[:4].hex() in text:
                hint = {"NotOwner": " (the signer is not the account that deployed this contract)"}.get(
                    item["name"], ""
                )
                return item["name"] + hint
    return None


def _account(config: NetworkConfig, default_key: str | None = None):
    from eth_account import Account

    if config.private_key:
        try:
            return Account.from_key(config.private_key)
        except Exception:
            # The exception text could quote the key; say only what is wrong.
            raise ChainError(f"{config.name}: the configured signer key is not a valid private key") from None
    if config.keystore_path:
        try:
            with open(config.keystore_path) as handle:
                return Account.from_key(Account.decrypt(json.load(handle), config.keystore_password or ""))
        except (OSError, ValueError) as exc:
            raise ChainError(
                f"{config.name}: cannot open the keystore {config.keystore_path}: "
                f"{'wrong password' if 'MAC' in str(exc) else type(exc).__name__}"
            ) from None
    return Account.from_key(default_key) if default_key else None
