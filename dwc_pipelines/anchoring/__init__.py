"""On-chain anchoring of document hashes (issue 6; in progress: the Merkle trees and the contracts)."""
