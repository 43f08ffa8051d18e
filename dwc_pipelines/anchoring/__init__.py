"""On-chain anchoring: Merkle-batched proofs of document hashes on EVM chains, and certificate NFTs.

The Dagster definitions load on first use (`anchoring.defs`), so `dwc verify` and the other
commands need neither the definitions nor the warehouse writer.
"""

_LAZY = {"defs", "anchor_job", "certify_job", "PROOFS", "CERTIFICATES"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(name)
    from . import definitions

    return getattr(definitions, name)
