// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title DWC anchor registry
/// @notice Stores the Merkle root of a batch of document hashes, once, in a single storage slot:
/// block number, block timestamp and document count packed together. The batch's metadata (a
/// JSON manifest: batch id, network, tree parameters) is carried by its sha256 in the event, so an
/// anchor costs one cold SSTORE whatever the batch size (under 50,000 gas in all).
/// A run that crashed after sending asks `anchorOf(root)` whether its transaction landed; the
/// batch's root is deterministic, so the question has one answer.
contract AnchorRegistry {
    address public immutable owner;
    mapping(bytes32 => uint256) private anchors;

    event Anchored(bytes32 indexed root, uint64 documentCount, bytes32 manifestHash);

    error NotOwner();
    error AlreadyAnchored(bytes32 root);
    error EmptyBatch();

    constructor() {
        owner = msg.sender;
    }

    function anchor(bytes32 root, uint64 documentCount, bytes32 manifestHash) external {
        if (msg.sender != owner) revert NotOwner();
        if (documentCount == 0) revert EmptyBatch();
        if (anchors[root] != 0) revert AlreadyAnchored(root);
        anchors[root] = uint256(uint64(block.number)) | (uint256(uint64(block.timestamp)) << 64)
            | (uint256(documentCount) << 128);
        emit Anchored(root, documentCount, manifestHash);
    }

    /// @notice When and how big: a blockNumber of 0 means `root` was never anchored here.
    function anchorOf(bytes32 root) external view returns (uint64 blockNumber, uint64 timestamp, uint64 documentCount) {
        uint256 packed = anchors[root];
        return (uint64(packed), uint64(packed >> 64), uint64(packed >> 128));
    }
}
