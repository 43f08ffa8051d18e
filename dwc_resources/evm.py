"""The embedded chain: an in-process EVM (eth-tester over py-evm) whose state lives in a SQLite file.

py-evm no longer ships a disk database, but everything it stores goes through one key-value
interface; `SqliteKV` is that interface on disk. Writes collect in one SQLite transaction and are
committed once a block is mined, so a process killed mid-block leaves the chain at its last block
(exactly what a real node does with an unmined transaction). One writer at a time: the writer holds
an exclusive lock on `<state>.lock`; readers (verification) open the file without it.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from contextlib import contextmanager

# eth-tester's first development account, funded at genesis. Only the embedded chain uses it; it
# is public knowledge, like Anvil's, and never a production signer.
DEV_KEY = "0x" + "00" * 31 + "01"


def _base_db():
    from eth.db.backends.base import BaseDB

    return BaseDB


class SqliteKV(_base_db()):
    """bytes -> bytes on SQLite: py-evm's key-value interface (BaseDB adds exists, get, set, delete)."""

    def __init__(self, path: str, read_only: bool = False):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
        self.con = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
        if not read_only:
            self.con.execute("PRAGMA journal_mode=WAL")
            self.con.execute("PRAGMA synchronous=FULL")
            self.con.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
            self.con.commit()

    def __getitem__(self, key: bytes) -> bytes:
        row = self.con.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return row[0]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.con.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, value))

    def __delitem__(self, key: bytes) -> None:
        if self.con.execute("DELETE FROM kv WHERE k = ?", (key,)).rowcount == 0:
            raise KeyError(key)

    def _exists(self, key: bytes) -> bool:
        return self.con.execute("SELECT 1 FROM kv WHERE k = ?", (key,)).fetchone() is not None

    def commit(self) -> None:
        self.con.commit()

    def rollback(self) -> None:
        self.con.rollback()

    def close(self) -> None:
        self.con.close()


_HEAD_KEY = b"dwc:initialised"


def _backend_class():
    from eth_tester.backends.pyevm import main as pyevm

    class PersistentPyEVMBackend(pyevm.PyEVMBackend):
        """PyEVMBackend on a given database: genesis once, the stored head on every later open."""

        def __init__(self, kv: SqliteKV):
            self._kv = kv
            super().__init__()

        def reset_to_genesis(self, *args, **kwargs):
            import eth.db
            from eth.db.atomic import AtomicDB

            db = AtomicDB(self._kv)
            if self._kv.get(_HEAD_KEY):
                # The chain class is local to setup_tester_chain: take it from a throwaway chain.
                keys, scratch = pyevm.setup_tester_chain()
                self.account_keys, self.chain = keys, type(scratch)(db)
                return
            original = eth.db.get_db_backend
            eth.db.get_db_backend = lambda *a, **k: db
            try:
                self.account_keys, self.chain = pyevm.setup_tester_chain(*args, **kwargs)
            finally:
                eth.db.get_db_backend = original
            self._kv[_HEAD_KEY] = b"1"
            self._kv.commit()

        def mine_blocks(self, num_blocks=1, coinbase=pyevm.ZERO_ADDRESS):
            # A block takes the time it is mined at, not the time its pending header was made.
            parent = self.chain.get_canonical_head()
            self.chain.header = self.chain.header.copy(timestamp=max(int(time.time()), parent.timestamp + 1))
            try:
                hashes = super().mine_blocks(num_blocks, coinbase)
            except BaseException:
                self._kv.rollback()
                raise
            self._kv.commit()
            return hashes

    return PersistentPyEVMBackend


@contextmanager
def writer_lock(state_path: str, timeout_s: float = 60.0):
    """Exclusive use of the embedded chain by one process (two writers would fork it)."""
    os.makedirs(os.path.dirname(os.path.abspath(state_path)), exist_ok=True)
    with open(state_path + ".lock", "w") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another process holds the embedded chain {state_path}") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def embedded_web3(state_path: str, read_only: bool = False):
    """A Web3 on the chain kept in `state_path` (created on first use), and its database handle."""
    from eth_tester import EthereumTester
    from web3 import EthereumTesterProvider, Web3

    if read_only and not os.path.exists(state_path):
        raise FileNotFoundError(f"no embedded chain at {state_path}: nothing was anchored on it yet")
    kv = SqliteKV(state_path, read_only=read_only)
    backend = _backend_class()(kv)
    w3 = Web3(EthereumTesterProvider(EthereumTester(backend=backend)))
    return w3, kv


def fund(w3, address: str, wei: int = 10**21) -> None:
    """A configured signer other than the development account gets ether from it (a dev chain only)."""
    from eth_account import Account

    if w3.eth.get_balance(address) > 0:
        return
    dev = Account.from_key(DEV_KEY)
    tx = {
        "to": address,
        "value": wei,
        "gas": 21_000,
        "nonce": w3.eth.get_transaction_count(dev.address),
        "chainId": w3.eth.chain_id,
        "maxFeePerGas": 2 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(dev.sign_transaction(tx).raw_transaction))
