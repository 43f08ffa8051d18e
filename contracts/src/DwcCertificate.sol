// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

/// @title DWC document certificate
/// @notice One ERC-721 token per anchored document content (or batch): the token URI carries the
/// content hash, the Merkle root it was anchored under and the caller's JSON metadata.
contract DwcCertificate is ERC721 {
    address public immutable owner;
    uint256 public nextTokenId = 1;
    mapping(uint256 => bytes32) public contentHashOf;
    mapping(uint256 => bytes32) public rootOf;
    mapping(bytes32 => uint256) public tokenOfContent;
    mapping(uint256 => string) private metadataOf;

    event Certified(uint256 indexed tokenId, bytes32 indexed contentHash, bytes32 indexed root);

    error NotOwner();
    error AlreadyCertified(bytes32 contentHash, uint256 tokenId);

    constructor() ERC721("DWC Document Certificate", "DWCC") {
        owner = msg.sender;
    }

    /// @param metadata a JSON object (the caller's responsibility), embedded as is in the token URI
    function certify(address to, bytes32 contentHash, bytes32 root, string calldata metadata)
        external
        returns (uint256 tokenId)
    {
        if (msg.sender != owner) revert NotOwner();
        if (tokenOfContent[contentHash] != 0) revert AlreadyCertified(contentHash, tokenOfContent[contentHash]);
        tokenId = nextTokenId++;
        contentHashOf[tokenId] = contentHash;
        rootOf[tokenId] = root;
        tokenOfContent[contentHash] = tokenId;
        metadataOf[tokenId] = metadata;
        _safeMint(to, tokenId);
        emit Certified(tokenId, contentHash, root);
    }

    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        _requireOwned(tokenId);
        return string.concat(
            "data:application/json;utf8,{\"name\":\"DWC certificate #",
            Strings.toString(tokenId),
            "\",\"content_hash\":\"",
            Strings.toHexString(uint256(contentHashOf[tokenId]), 32),
            "\",\"merkle_root\":\"",
            Strings.toHexString(uint256(rootOf[tokenId]), 32),
            "\",\"metadata\":",
            bytes(metadataOf[tokenId]).length == 0 ? "{}" : metadataOf[tokenId],
            "}"
        );
    }
}
