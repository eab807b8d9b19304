// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMessageHandler, MessageTransmitter} from "./MessageTransmitter.sol";

/// @notice What the messenger needs from a token (DevToken): it must be one of the token's minters.
interface IMintBurnToken {
    function mint(address to, uint256 amount) external;
    function burnFrom(address from, uint256 amount) external;
}

/// @title TokenMessenger (mmtui devnet, Circle CCTP V1 shape)
/// @notice Burn on one chain, mint on another: depositForBurn burns the caller's tokens and sends a burn
/// message through the local MessageTransmitter; once attested, receiveMessage on the destination
/// transmitter calls handleReceiveMessage here, which mints the linked local token. Circle splits the token
/// mapping into a separate TokenMinter; here the messenger holds it (linkTokenPair) and mints directly.
///
/// Burn message body (tightly packed, Circle CCTP V1 BurnMessage):
///   offset size  field
///   0      4     version        uint32, always 0
///   4      32    burnToken      bytes32, the token burnt on the source chain (left-padded address)
///   36     32    mintRecipient  bytes32
///   68     32    amount         uint256
///   100    32    messageSender  bytes32, who called depositForBurn
contract TokenMessenger is IMessageHandler {
    uint32 public constant messageBodyVersion = 0;
    MessageTransmitter public immutable localMessageTransmitter;
    address public immutable admin;

    /// @notice Trusted messenger per remote domain (left-padded address).
    mapping(uint32 => bytes32) public remoteTokenMessengers;
    /// @dev keccak256(abi.encodePacked(remoteDomain, remoteToken)) => local token, like Circle's TokenMinter.
    mapping(bytes32 => address) private _localTokens;

    uint256 private constant BURN_MESSAGE_LENGTH = 132;

    event DepositForBurn(
        uint64 indexed nonce,
        address indexed burnToken,
        uint256 amount,
        address indexed depositor,
        bytes32 mintRecipient,
        uint32 destinationDomain,
        bytes32 destinationTokenMessenger,
        bytes32 destinationCaller
    );
    event MintAndWithdraw(address indexed mintRecipient, uint256 amount, address indexed mintToken);
    event RemoteTokenMessengerAdded(uint32 domain, bytes32 tokenMessenger);
    event TokenPairLinked(address localToken, uint32 remoteDomain, bytes32 remoteToken);

    error AmountIncorrect();
    error InvalidMessageBody();
    error InvalidMintRecipient();
    error NoRemoteTokenMessenger(uint32 domain);
    error RemoteTokenMessengerIncorrect(uint32 domain, bytes32 sender);
    error TokenPairNotLinked(uint32 remoteDomain, bytes32 remoteToken);
    error Unauthorized();
    error ZeroAddress();

    modifier onlyAdmin() {
        if (msg.sender != admin) revert Unauthorized();
        _;
    }

    constructor(MessageTransmitter messageTransmitter, address admin_) {
        if (address(messageTransmitter) == address(0) || admin_ == address(0)) revert ZeroAddress();
        localMessageTransmitter = messageTransmitter;
        admin = admin_;
    }

    /// @notice Burns `amount` of `burnToken` from the caller (who approved this messenger) for a mint of
    /// the linked token to `mintRecipient` on `destinationDomain`.
    function depositForBurn(uint256 amount, uint32 destinationDomain, bytes32 mintRecipient, address burnToken)
        external
        returns (uint64 nonce)
    {
        if (amount == 0) revert AmountIncorrect();
        if (mintRecipient == bytes32(0)) revert InvalidMintRecipient();
        bytes32 destinationTokenMessenger = remoteTokenMessengers[destinationDomain];
        if (destinationTokenMessenger == bytes32(0)) revert NoRemoteTokenMessenger(destinationDomain);

        IMintBurnToken(burnToken).burnFrom(msg.sender, amount);
        bytes memory body = abi.encodePacked(
            messageBodyVersion,
            bytes32(uint256(uint160(burnToken))),
            mintRecipient,
            amount,
            bytes32(uint256(uint160(msg.sender)))
        );
        nonce = localMessageTransmitter.sendMessage(destinationDomain, destinationTokenMessenger, body);
        emit DepositForBurn(
            nonce,
            burnToken,
            amount,
            msg.sender,
            mintRecipient,
            destinationDomain,
            destinationTokenMessenger,
            bytes32(0)
        );
    }

    /// @notice Called by the local MessageTransmitter with an attested burn message from a trusted messenger.
    function handleReceiveMessage(uint32 remoteDomain, bytes32 sender, bytes calldata messageBody)
        external
        returns (bool)
    {
        if (msg.sender != address(localMessageTransmitter)) revert Unauthorized();
        bytes32 trusted = remoteTokenMessengers[remoteDomain];
        if (trusted == bytes32(0) || trusted != sender) revert RemoteTokenMessengerIncorrect(remoteDomain, sender);
        if (messageBody.length != BURN_MESSAGE_LENGTH || uint32(bytes4(messageBody[0:4])) != messageBodyVersion) {
            revert InvalidMessageBody();
        }
        bytes32 burnToken = bytes32(messageBody[4:36]);
        address mintRecipient = address(uint160(uint256(bytes32(messageBody[36:68]))));
        uint256 amount = uint256(bytes32(messageBody[68:100]));

        address localToken = getLocalToken(remoteDomain, burnToken);
        if (localToken == address(0)) revert TokenPairNotLinked(remoteDomain, burnToken);
        IMintBurnToken(localToken).mint(mintRecipient, amount);
        emit MintAndWithdraw(mintRecipient, amount, localToken);
        return true;
    }

    /// @notice Trusts `tokenMessenger` (left-padded address) as the messenger of `domain`; replaces any previous one.
    function addRemoteTokenMessenger(uint32 domain, bytes32 tokenMessenger) external onlyAdmin {
        if (tokenMessenger == bytes32(0)) revert ZeroAddress();
        remoteTokenMessengers[domain] = tokenMessenger;
        emit RemoteTokenMessengerAdded(domain, tokenMessenger);
    }

    /// @notice Burns of `remoteToken` on `remoteDomain` mint `localToken` here.
    function linkTokenPair(address localToken, uint32 remoteDomain, bytes32 remoteToken) external onlyAdmin {
        if (localToken == address(0)) revert ZeroAddress();
        _localTokens[_remoteTokenKey(remoteDomain, remoteToken)] = localToken;
        emit TokenPairLinked(localToken, remoteDomain, remoteToken);
    }

    function getLocalToken(uint32 remoteDomain, bytes32 remoteToken) public view returns (address) {
        return _localTokens[_remoteTokenKey(remoteDomain, remoteToken)];
    }

    function _remoteTokenKey(uint32 remoteDomain, bytes32 remoteToken) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(remoteDomain, remoteToken));
    }
}
