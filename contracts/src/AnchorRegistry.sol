// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title DWC anchor registry
/// @notice Stores the Merkle root of a batch of document hashes, once. The batch id is
/// deterministic (derived from the batch's content), so an anchoring run that crashed after
/// sending can ask `rootOfBatch` whether its transaction landed before it sends again.
contract AnchorRegistry {
    struct Anchor {
        bytes32 batchId;
        uint64 documentCount;
        uint64 blockNumber;
        uint64 timestamp;
        string metadata;
    }

    address public immutable owner;
    mapping(bytes32 => Anchor) private anchors;
    mapping(bytes32 => bytes32) public rootOfBatch;

    event Anchored(bytes32 indexed root, bytes32 indexed batchId, uint64 documentCount, string metadata);

    error NotOwner();
    error AlreadyAnchored(bytes32 root);
    error BatchAlreadyAnchored(bytes32 batchId, bytes32 root);
    error EmptyBatch();

    constructor() {
        owner = msg.sender;
    }

    function anchor(bytes32 root, bytes32 batchId, uint64 documentCount, string calldata metadata) external {
        if (msg.sender != owner) revert NotOwner();
        if (documentCount == 0) revert EmptyBatch();
        if (anchors[root].blockNumber != 0) revert AlreadyAnchored(root);
        if (rootOfBatch[batchId] != bytes32(0)) revert BatchAlreadyAnchored(batchId, rootOfBatch[batchId]);
        anchors[root] = Anchor(batchId, documentCount, uint64(block.number), uint64(block.timestamp), metadata);
        rootOfBatch[batchId] = root;
        emit Anchored(root, batchId, documentCount, metadata);
    }

    /// @notice The anchor of `root`; a blockNumber of 0 means it was never anchored.
    function anchorOf(bytes32 root)
        external
        view
        returns (bytes32 batchId, uint64 documentCount, uint64 blockNumber, uint64 timestamp, string memory metadata)
    {
        Anchor storage a = anchors[root];
        return (a.batchId, a.documentCount, a.blockNumber, a.timestamp, a.metadata);
    }
}
