// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Receiver of a delivered message (Circle's IMessageHandler).
interface IMessageHandler {
    function handleReceiveMessage(uint32 sourceDomain, bytes32 sender, bytes calldata messageBody)
        external
        returns (bool);
}

/// @title MessageTransmitter (mmtui devnet, Circle CCTP V1 shape)
/// @notice Emits outgoing messages for an off-chain attester and delivers incoming ones that carry the
/// attester's signature. Same functions, events and message layout as Circle's CCTP V1 MessageTransmitter,
/// with a single attester (set at construction, replaceable by the admin) instead of a signer set.
///
/// Message layout (tightly packed, Circle CCTP V1):
///   offset size  field
///   0      4     version            uint32, always 0 (CCTP V1)
///   4      4     sourceDomain       uint32
///   8      4     destinationDomain  uint32
///   12     8     nonce              uint64, per source domain
///   20     32    sender             bytes32, the contract that called sendMessage (left-padded address)
///   52     32    recipient          bytes32, the IMessageHandler called on the destination
///   84     32    destinationCaller  bytes32, zero = anyone may call receiveMessage
///   116    ...   messageBody        bytes
/// Attestation: a 65-byte ECDSA signature r || s || v by the attester over keccak256(message), the raw
/// hash with no EIP-191 prefix (as Circle's attestation service signs).
contract MessageTransmitter {
    uint32 public constant version = 0;
    uint32 public immutable localDomain;
    address public immutable admin;
    address public attester;
    uint64 public nextAvailableNonce;
    /// @notice keccak256(abi.encodePacked(sourceDomain, nonce)) => 1 once the message was received.
    mapping(bytes32 => uint256) public usedNonces;

    uint256 private constant SENDER_INDEX = 20;
    uint256 private constant RECIPIENT_INDEX = 52;
    uint256 private constant DESTINATION_CALLER_INDEX = 84;
    uint256 private constant MESSAGE_BODY_INDEX = 116;
    /// @dev Upper bound of a canonical ECDSA s value (secp256k1n / 2), rejecting malleable signatures.
    uint256 private constant MAX_S = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    event MessageSent(bytes message);
    event MessageReceived(
        address indexed caller, uint32 sourceDomain, uint64 indexed nonce, bytes32 sender, bytes messageBody
    );
    event AttesterUpdated(address previousAttester, address newAttester);

    error HandlerFailed();
    error InvalidAttestation();
    error InvalidCaller();
    error InvalidDestinationDomain(uint32 destinationDomain);
    error InvalidMessage();
    error InvalidRecipient();
    error InvalidVersion(uint32 version);
    error NonceAlreadyUsed(uint32 sourceDomain, uint64 nonce);
    error Unauthorized();
    error ZeroAddress();

    constructor(uint32 localDomain_, address attester_, address admin_) {
        if (attester_ == address(0) || admin_ == address(0)) revert ZeroAddress();
        localDomain = localDomain_;
        attester = attester_;
        admin = admin_;
    }

    function setAttester(address newAttester) external {
        if (msg.sender != admin) revert Unauthorized();
        if (newAttester == address(0)) revert ZeroAddress();
        emit AttesterUpdated(attester, newAttester);
        attester = newAttester;
    }

    /// @notice Emits MessageSent for the attester; the caller is the message's sender.
    function sendMessage(uint32 destinationDomain, bytes32 recipient, bytes calldata messageBody)
        external
        returns (uint64 nonce)
    {
        if (recipient == bytes32(0)) revert InvalidRecipient();
        nonce = nextAvailableNonce++;
        bytes memory message = abi.encodePacked(
            version,
            localDomain,
            destinationDomain,
            nonce,
            bytes32(uint256(uint160(msg.sender))),
            recipient,
            bytes32(0),
            messageBody
        );
        emit MessageSent(message);
    }

    /// @notice Delivers an attested message to its recipient, once.
    function receiveMessage(bytes calldata message, bytes calldata attestation) external returns (bool success) {
        if (message.length < MESSAGE_BODY_INDEX) revert InvalidMessage();
        _verifyAttestation(message, attestation);

        uint32 messageVersion = uint32(bytes4(message[0:4]));
        uint32 sourceDomain = uint32(bytes4(message[4:8]));
        uint32 destinationDomain = uint32(bytes4(message[8:12]));
        uint64 nonce = uint64(bytes8(message[12:SENDER_INDEX]));
        bytes32 sender = bytes32(message[SENDER_INDEX:RECIPIENT_INDEX]);
        address recipient = address(uint160(uint256(bytes32(message[RECIPIENT_INDEX:DESTINATION_CALLER_INDEX]))));
        bytes32 destinationCaller = bytes32(message[DESTINATION_CALLER_INDEX:MESSAGE_BODY_INDEX]);
        bytes calldata messageBody = message[MESSAGE_BODY_INDEX:];

        if (destinationDomain != localDomain) revert InvalidDestinationDomain(destinationDomain);
        if (destinationCaller != bytes32(0) && destinationCaller != bytes32(uint256(uint160(msg.sender)))) {
            revert InvalidCaller();
        }
        if (messageVersion != version) revert InvalidVersion(messageVersion);

        bytes32 sourceAndNonce = keccak256(abi.encodePacked(sourceDomain, nonce));
        if (usedNonces[sourceAndNonce] != 0) revert NonceAlreadyUsed(sourceDomain, nonce);
        usedNonces[sourceAndNonce] = 1;

        if (!IMessageHandler(recipient).handleReceiveMessage(sourceDomain, sender, messageBody)) {
            revert HandlerFailed();
        }
        emit MessageReceived(msg.sender, sourceDomain, nonce, sender, messageBody);
        return true;
    }

    function _verifyAttestation(bytes calldata message, bytes calldata attestation) private view {
        if (attestation.length != 65) revert InvalidAttestation();
        bytes32 r = bytes32(attestation[0:32]);
        bytes32 s = bytes32(attestation[32:64]);
        uint8 v = uint8(attestation[64]);
        if (uint256(s) > MAX_S || (v != 27 && v != 28)) revert InvalidAttestation();
        address signer = ecrecover(keccak256(message), v, r, s);
        if (signer == address(0) || signer != attester) revert InvalidAttestation();
    }
}
