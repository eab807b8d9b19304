// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ReentrancyLock} from "./ReentrancyLock.sol";
import {SafeToken} from "./SafeToken.sol";

/// @notice Hook called on a destination recipient contract when a request carries zapData.
interface IZapRecipient {
    /// @return The selector of this function, to prove the recipient understood the call.
    function zap(address token, uint256 amount, bytes memory zapData) external payable returns (bytes4);
}

/// @title FastBridgeV2 (mmtui devnet implementation)
/// @notice The project's own intent bridge for the devnet. It presents exactly the external interface of
/// Synapse's FastBridgeV2 (events, selectors, packed V2 request bytes, statuses, revert rules) so that the
/// relayer engine runs unchanged against this contract and against the real one.
/// Devnet-specific differences: DISPUTE_PERIOD and MIN_DEADLINE_PERIOD are constructor immutables (a demo
/// claim takes seconds, not 30 minutes) and roles are plain mappings instead of AccessControl.
contract FastBridgeV2 is ReentrancyLock {
    // ─────────────────────────────────────────── types ───────────────────────────────────────────

    enum BridgeStatus {
        NULL,
        REQUESTED,
        RELAYER_PROVED,
        RELAYER_CLAIMED,
        REFUNDED
    }

    struct BridgeParams {
        uint32 dstChainId;
        address sender;
        address to;
        address originToken;
        address destToken;
        uint256 originAmount;
        uint256 destAmount;
        bool sendChainGas;
        uint256 deadline;
    }

    struct BridgeParamsV2 {
        address quoteRelayer;
        int256 quoteExclusivitySeconds;
        bytes quoteId;
        uint256 zapNative;
        bytes zapData;
    }

    /// @dev The V1 request layout (abi.encode, 384 bytes), still readable through getBridgeTransaction.
    struct BridgeTransaction {
        uint32 originChainId;
        uint32 destChainId;
        address originSender;
        address destRecipient;
        address originToken;
        address destToken;
        uint256 originAmount;
        uint256 destAmount;
        uint256 originFeeAmount;
        bool sendChainGas;
        uint256 deadline;
        uint256 nonce;
    }

    struct BridgeTransactionV2 {
        uint32 originChainId;
        uint32 destChainId;
        address originSender;
        address destRecipient;
        address originToken;
        address destToken;
        uint256 originAmount;
        uint256 destAmount;
        uint256 originFeeAmount;
        uint256 deadline;
        uint256 nonce;
        address exclusivityRelayer;
        uint256 exclusivityEndTime;
        uint256 zapNative;
        bytes zapData;
    }

    /// @dev Origin-chain state of one request; packs into a single storage slot.
    struct BridgeTxDetails {
        BridgeStatus status;
        uint32 destChainId;
        uint16 proverID;
        uint40 proofBlockTimestamp;
        address proofRelayer;
    }

    /// @dev Destination-chain record of a relay; a non-zero relayer means "relayed".
    struct BridgeRelay {
        uint48 blockNumber;
        uint48 blockTimestamp;
        address relayer;
    }

    struct ProverInfo {
        uint16 id; // 1-based, kept when the prover is removed so a re-added prover keeps its id
        bool active;
    }

    // ─────────────────────────────────────────── events ──────────────────────────────────────────

    event BridgeRequested(
        bytes32 indexed transactionId,
        address indexed sender,
        bytes request,
        uint32 destChainId,
        address originToken,
        address destToken,
        uint256 originAmount,
        uint256 destAmount,
        bool sendChainGas
    );
    event BridgeRelayed(
        bytes32 indexed transactionId,
        address indexed relayer,
        address indexed to,
        uint32 originChainId,
        address originToken,
        address destToken,
        uint256 originAmount,
        uint256 destAmount,
        uint256 chainGasAmount
    );
    event BridgeProofProvided(bytes32 indexed transactionId, address indexed relayer, bytes32 transactionHash);
    event BridgeProofDisputed(bytes32 indexed transactionId, address indexed relayer);
    event BridgeDepositClaimed(
        bytes32 indexed transactionId, address indexed relayer, address indexed to, address token, uint256 amount
    );
    event BridgeDepositRefunded(bytes32 indexed transactionId, address indexed to, address token, uint256 amount);
    event BridgeQuoteDetails(bytes32 indexed transactionId, bytes quoteId);

    event ProverAdded(address prover);
    event ProverRemoved(address prover);
    event GuardUpdated(address indexed guard, bool active);
    event CancelerUpdated(address indexed canceler, bool active);
    event CancelDelayUpdated(uint256 oldCancelDelay, uint256 newCancelDelay);
    event FeeRateUpdated(uint256 oldFeeRate, uint256 newFeeRate);
    event FeesSwept(address token, address recipient, uint256 amount);

    // ─────────────────────────────────────────── errors ──────────────────────────────────────────
    // Same names (hence same selectors) as the real contract where the real contract has them, so that
    // revert decoding in the engine is identical on the devnet and on real chains.

    error AddressEmptyCode(address target);
    error AmountIncorrect();
    error CancelDelayBelowMin();
    error ChainIncorrect();
    error DeadlineExceeded();
    error DeadlineNotExceeded();
    error DeadlineTooShort();
    error DisputePeriodNotPassed();
    error DisputePeriodPassed();
    error ExclusivityParamsIncorrect();
    error ExclusivityPeriodNotPassed();
    error FeeRateAboveMax();
    error MsgValueIncorrect();
    error MulticallTarget__UndeterminedRevert();
    error NativeTransferFailed();
    error ProverAlreadyActive();
    error ProverCapacityExceeded();
    error ProverNotActive();
    error RecipientIncorrectReturnValue();
    error RecipientNoReturnValue();
    error SenderIncorrect();
    error StatusIncorrect();
    error TokenNotContract();
    error TransactionRelayed();
    error Unauthorized();
    error ZapDataLengthAboveMax();
    error ZapNativeNotSupported();
    error ZeroAddress();
    error BridgeTransactionV2__InvalidEncodedTx();
    error BridgeTransactionV2__UnsupportedVersion(uint16 version);

    // ────────────────────────────────────────── constants ────────────────────────────────────────

    address public constant NATIVE_GAS_TOKEN = 0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE;
    /// @notice Protocol fee rates are in parts per million (named like the real contract's constant).
    uint256 public constant FEE_BPS = 1e6;
    uint256 public constant FEE_RATE_MAX = 0.01e6;
    uint256 public constant MIN_CANCEL_DELAY = 1 hours;
    uint256 public constant DEFAULT_CANCEL_DELAY = 1 days;
    uint256 public constant MAX_ZAP_DATA_LENGTH = 2 ** 16 - 1;

    uint16 private constant REQUEST_VERSION = 2;
    /// @dev Packed V2 request offsets (REFERENCE §1); zapData runs from OFFSET_ZAP_DATA to the end.
    uint256 private constant OFFSET_ORIGIN_CHAIN_ID = 2;
    uint256 private constant OFFSET_DEST_CHAIN_ID = 6;
    uint256 private constant OFFSET_ORIGIN_SENDER = 10;
    uint256 private constant OFFSET_DEST_RECIPIENT = 30;
    uint256 private constant OFFSET_ORIGIN_TOKEN = 50;
    uint256 private constant OFFSET_DEST_TOKEN = 70;
    uint256 private constant OFFSET_ORIGIN_AMOUNT = 90;
    uint256 private constant OFFSET_DEST_AMOUNT = 122;
    uint256 private constant OFFSET_ORIGIN_FEE_AMOUNT = 154;
    uint256 private constant OFFSET_DEADLINE = 186;
    uint256 private constant OFFSET_NONCE = 218;
    uint256 private constant OFFSET_EXCLUSIVITY_RELAYER = 250;
    uint256 private constant OFFSET_EXCLUSIVITY_END_TIME = 270;
    uint256 private constant OFFSET_ZAP_NATIVE = 302;
    uint256 private constant OFFSET_ZAP_DATA = 334;

    // ─────────────────────────────────────────── state ───────────────────────────────────────────

    /// @notice Seconds after a proof during which a guard may dispute it; a claim needs strictly more.
    uint256 public immutable DISPUTE_PERIOD;
    /// @notice Minimum time between a bridge and its deadline.
    uint256 public immutable MIN_DEADLINE_PERIOD;
    uint256 public immutable deployBlock;
    address public immutable admin;

    mapping(bytes32 => BridgeTxDetails) public bridgeTxDetails;
    mapping(bytes32 => BridgeRelay) public bridgeRelayDetails;
    mapping(address => uint256) public senderNonces;

    mapping(address => bool) public isGuard;
    mapping(address => bool) public isCanceler;
    mapping(address => ProverInfo) private _provers;
    address[] private _proverList; // index = prover id - 1

    uint256 public cancelDelay = DEFAULT_CANCEL_DELAY;
    uint256 public protocolFeeRate;
    /// @notice Fees accrued per origin token; they become the protocol's only once the order is claimed.
    mapping(address => uint256) public protocolFees;

    modifier onlyAdmin() {
        if (msg.sender != admin) revert Unauthorized();
        _;
    }

    constructor(address admin_, uint256 disputePeriod, uint256 minDeadlinePeriod) {
        if (admin_ == address(0)) revert ZeroAddress();
        admin = admin_;
        DISPUTE_PERIOD = disputePeriod;
        MIN_DEADLINE_PERIOD = minDeadlinePeriod;
        deployBlock = block.number;
    }

    // ──────────────────────────────────────── user: bridge ───────────────────────────────────────

    function bridge(BridgeParams memory params) external payable {
        bridgeV2(params, BridgeParamsV2(address(0), 0, "", 0, ""));
    }

    function bridgeV2(BridgeParams memory params, BridgeParamsV2 memory paramsV2) public payable nonReentrant {
        // Exclusivity is "none" (end time 0) unless a quote relayer is named, like the real contract.
        int256 exclusivityEndTime = 0;
        if (paramsV2.quoteRelayer != address(0)) {
            exclusivityEndTime = int256(block.timestamp) + paramsV2.quoteExclusivitySeconds;
        }
        _validateBridgeParams(params, paramsV2, exclusivityEndTime);

        // The request carries what was really received (fee-on-transfer tokens), minus the protocol fee.
        uint256 originAmount = _takeUserAsset(params.originToken, params.originAmount);
        uint256 originFeeAmount = (originAmount * protocolFeeRate) / FEE_BPS;
        originAmount -= originFeeAmount;

        BridgeTransactionV2 memory t;
        t.originChainId = uint32(block.chainid);
        t.destChainId = params.dstChainId;
        t.originSender = params.sender;
        t.destRecipient = params.to;
        t.originToken = params.originToken;
        t.destToken = params.destToken;
        t.originAmount = originAmount;
        t.destAmount = params.destAmount;
        t.originFeeAmount = originFeeAmount;
        t.deadline = params.deadline;
        t.nonce = senderNonces[params.sender]++;
        t.exclusivityRelayer = paramsV2.quoteRelayer;
        t.exclusivityEndTime = uint256(exclusivityEndTime); // checked to be in [0, deadline]
        t.zapNative = paramsV2.zapNative;
        t.zapData = paramsV2.zapData;

        _recordRequest(t, paramsV2.quoteId);
    }

    // ─────────────────────────────────── destination: relay ──────────────────────────────────────

    function relay(bytes calldata request) external payable {
        relayV2(request, msg.sender);
    }

    function relayV2(bytes calldata request, address relayer) public payable nonReentrant {
        _validateV2(request);
        bytes32 transactionId = keccak256(request);
        BridgeTransactionV2 memory t = _decodeV2(request);

        if (relayer == address(0)) revert ZeroAddress();
        if (bridgeRelays(transactionId)) revert TransactionRelayed();
        if (t.destChainId != block.chainid) revert ChainIncorrect();
        if (block.timestamp > t.deadline) revert DeadlineExceeded();
        if (
            t.exclusivityRelayer != address(0) && t.exclusivityRelayer != relayer
                && block.timestamp <= t.exclusivityEndTime
        ) revert ExclusivityPeriodNotPassed();

        bridgeRelayDetails[transactionId] = BridgeRelay(uint48(block.number), uint48(block.timestamp), relayer);
        // State and event first, external calls last (checks-effects-interactions).
        emit BridgeRelayed(
            transactionId,
            relayer,
            t.destRecipient,
            t.originChainId,
            t.originToken,
            t.destToken,
            t.originAmount,
            t.destAmount,
            t.zapNative
        );

        if (t.destToken == NATIVE_GAS_TOKEN) {
            // zapNative is meaningless when the destination token is already the native token.
            if (t.zapNative != 0) revert ZapNativeNotSupported();
            if (msg.value != t.destAmount) revert MsgValueIncorrect();
        } else {
            if (msg.value != t.zapNative) revert MsgValueIncorrect();
            SafeToken.safeTransferFrom(t.destToken, msg.sender, t.destRecipient, t.destAmount);
        }
        // msg.value (native destAmount, or zapNative for an ERC20) goes with the zap call, else directly.
        if (t.zapData.length != 0) {
            _zap(t.destRecipient, t.destToken, t.destAmount, t.zapData);
        } else if (msg.value != 0) {
            _sendNative(t.destRecipient, msg.value);
        }
    }

    // ────────────────────────────────────── origin: prove ────────────────────────────────────────

    function prove(bytes calldata request, bytes32 destTxHash) external {
        _validateV2(request);
        proveV2(keccak256(request), destTxHash, msg.sender);
    }

    function proveV2(bytes32 transactionId, bytes32 destTxHash, address relayer) public {
        uint16 proverID = getActiveProverID(msg.sender);
        if (proverID == 0) revert ProverNotActive();
        BridgeTxDetails storage details = bridgeTxDetails[transactionId];
        if (details.status != BridgeStatus.REQUESTED) revert StatusIncorrect();

        details.status = BridgeStatus.RELAYER_PROVED;
        details.proverID = proverID;
        details.proofBlockTimestamp = uint40(block.timestamp);
        details.proofRelayer = relayer;
        emit BridgeProofProvided(transactionId, relayer, destTxHash);
    }

    /// @notice A guard rejects a proof within the dispute period; the order goes back to REQUESTED.
    function dispute(bytes32 transactionId) external {
        if (!isGuard[msg.sender]) revert Unauthorized();
        BridgeTxDetails storage details = bridgeTxDetails[transactionId];
        if (details.status != BridgeStatus.RELAYER_PROVED) revert StatusIncorrect();
        if (_timeSince(details.proofBlockTimestamp) > DISPUTE_PERIOD) revert DisputePeriodPassed();

        address disputedRelayer = details.proofRelayer;
        details.status = BridgeStatus.REQUESTED;
        details.proverID = 0;
        details.proofBlockTimestamp = 0;
        details.proofRelayer = address(0);
        emit BridgeProofDisputed(transactionId, disputedRelayer);
    }

    // ────────────────────────────────────── origin: claim ────────────────────────────────────────

    function claimV2(bytes calldata request) external {
        claim(request, address(0));
    }

    /// @notice to == 0: anyone may claim on behalf of the proven relayer (funds go to it);
    /// to != 0: only the proven relayer may, sending the funds to `to`.
    function claim(bytes calldata request, address to) public nonReentrant {
        _validateV2(request);
        bytes32 transactionId = keccak256(request);
        BridgeTxDetails storage details = bridgeTxDetails[transactionId];
        address proofRelayer = details.proofRelayer;
        if (details.status != BridgeStatus.RELAYER_PROVED) revert StatusIncorrect();
        if (_timeSince(details.proofBlockTimestamp) <= DISPUTE_PERIOD) revert DisputePeriodNotPassed();
        if (to == address(0)) {
            to = proofRelayer;
        } else if (proofRelayer != msg.sender) {
            revert SenderIncorrect();
        }

        details.status = BridgeStatus.RELAYER_CLAIMED;
        address token = _addressAt(request, OFFSET_ORIGIN_TOKEN);
        uint256 amount = _uintAt(request, OFFSET_ORIGIN_AMOUNT);
        protocolFees[token] += _uintAt(request, OFFSET_ORIGIN_FEE_AMOUNT);
        emit BridgeDepositClaimed(transactionId, proofRelayer, to, token, amount);
        _transferOut(token, to, amount);
    }

    // ───────────────────────────────────── origin: cancel ────────────────────────────────────────

    /// @notice Deprecated alias of cancelV2, kept because the real contract still exposes it.
    function refund(bytes calldata request) external {
        cancelV2(request);
    }

    /// @notice Returns originAmount + originFeeAmount to the sender of an order nobody proved in time:
    /// a canceler may do it right after the deadline, anyone after deadline + cancelDelay.
    function cancelV2(bytes calldata request) public nonReentrant {
        _validateV2(request);
        bytes32 transactionId = keccak256(request);
        BridgeTxDetails storage details = bridgeTxDetails[transactionId];
        if (details.status != BridgeStatus.REQUESTED) revert StatusIncorrect();
        uint256 deadline = _uintAt(request, OFFSET_DEADLINE);
        if (!isCanceler[msg.sender]) deadline += cancelDelay;
        if (block.timestamp <= deadline) revert DeadlineNotExceeded();

        details.status = BridgeStatus.REFUNDED;
        address to = _addressAt(request, OFFSET_ORIGIN_SENDER);
        address token = _addressAt(request, OFFSET_ORIGIN_TOKEN);
        uint256 amount = _uintAt(request, OFFSET_ORIGIN_AMOUNT) + _uintAt(request, OFFSET_ORIGIN_FEE_AMOUNT);
        emit BridgeDepositRefunded(transactionId, to, token, amount);
        _transferOut(token, to, amount);
    }

    // ───────────────────────────────────────── batching ──────────────────────────────────────────

    /// @notice Runs several calls on this contract in one transaction (e.g. many proves or claims).
    /// Not payable on purpose: a delegatecall would see the same msg.value in every call.
    function multicallNoResults(bytes[] calldata data, bool ignoreReverts) external {
        for (uint256 i = 0; i < data.length; ++i) {
            (bool ok, bytes memory result) = address(this).delegatecall(data[i]);
            if (!ok && !ignoreReverts) {
                if (result.length == 0) revert MulticallTarget__UndeterminedRevert();
                assembly ("memory-safe") {
                    revert(add(result, 32), mload(result))
                }
            }
        }
    }

    // ─────────────────────────────────────────── admin ───────────────────────────────────────────

    function addProver(address prover) external onlyAdmin {
        ProverInfo storage info = _provers[prover];
        if (info.active) revert ProverAlreadyActive();
        if (info.id == 0) {
            if (_proverList.length >= type(uint16).max) revert ProverCapacityExceeded();
            _proverList.push(prover);
            info.id = uint16(_proverList.length);
        }
        info.active = true;
        emit ProverAdded(prover);
    }

    function removeProver(address prover) external onlyAdmin {
        ProverInfo storage info = _provers[prover];
        if (!info.active) revert ProverNotActive();
        info.active = false;
        emit ProverRemoved(prover);
    }

    function addGuard(address guard) external onlyAdmin {
        isGuard[guard] = true;
        emit GuardUpdated(guard, true);
    }

    function removeGuard(address guard) external onlyAdmin {
        isGuard[guard] = false;
        emit GuardUpdated(guard, false);
    }

    function addCanceler(address canceler) external onlyAdmin {
        isCanceler[canceler] = true;
        emit CancelerUpdated(canceler, true);
    }

    function removeCanceler(address canceler) external onlyAdmin {
        isCanceler[canceler] = false;
        emit CancelerUpdated(canceler, false);
    }

    function setCancelDelay(uint256 newCancelDelay) external onlyAdmin {
        if (newCancelDelay < MIN_CANCEL_DELAY) revert CancelDelayBelowMin();
        emit CancelDelayUpdated(cancelDelay, newCancelDelay);
        cancelDelay = newCancelDelay;
    }

    function setProtocolFeeRate(uint256 newFeeRate) external onlyAdmin {
        if (newFeeRate > FEE_RATE_MAX) revert FeeRateAboveMax();
        emit FeeRateUpdated(protocolFeeRate, newFeeRate);
        protocolFeeRate = newFeeRate;
    }

    function sweepProtocolFees(address token, address recipient) external onlyAdmin nonReentrant {
        uint256 amount = protocolFees[token];
        if (amount == 0) return;
        protocolFees[token] = 0;
        emit FeesSwept(token, recipient, amount);
        _transferOut(token, recipient, amount);
    }

    // ─────────────────────────────────────────── views ───────────────────────────────────────────

    function bridgeStatuses(bytes32 transactionId) external view returns (BridgeStatus) {
        return bridgeTxDetails[transactionId].status;
    }

    function bridgeProofs(bytes32 transactionId) external view returns (uint96 timestamp, address relayer) {
        BridgeTxDetails storage details = bridgeTxDetails[transactionId];
        return (details.proofBlockTimestamp, details.proofRelayer);
    }

    function bridgeRelays(bytes32 transactionId) public view returns (bool) {
        return bridgeRelayDetails[transactionId].relayer != address(0);
    }

    /// @notice Reverts (instead of returning false) when the relayer cannot claim yet, like the real one.
    function canClaim(bytes32 transactionId, address relayer) external view returns (bool) {
        BridgeTxDetails storage details = bridgeTxDetails[transactionId];
        if (details.status != BridgeStatus.RELAYER_PROVED) revert StatusIncorrect();
        if (details.proofRelayer != relayer) revert SenderIncorrect();
        if (_timeSince(details.proofBlockTimestamp) <= DISPUTE_PERIOD) revert DisputePeriodNotPassed();
        return true;
    }

    /// @notice 1-based id of an active prover, 0 when the address is not an active prover.
    function getActiveProverID(address prover) public view returns (uint16) {
        ProverInfo memory info = _provers[prover];
        return info.active ? info.id : 0;
    }

    function getProvers() external view returns (address[] memory provers) {
        provers = new address[](_proverList.length);
        uint256 count = 0;
        for (uint256 i = 0; i < _proverList.length; ++i) {
            if (_provers[_proverList[i]].active) provers[count++] = _proverList[i];
        }
        assembly ("memory-safe") {
            mstore(provers, count) // shrink to the active provers
        }
    }

    function getBridgeTransactionV2(bytes calldata request) external pure returns (BridgeTransactionV2 memory) {
        _validateV2(request);
        return _decodeV2(request);
    }

    /// @notice V1 view of any request: V2 requests lose zapData and report zapNative != 0 as sendChainGas;
    /// anything that is not a V2 request is read as the abi-encoded V1 struct.
    function getBridgeTransaction(bytes calldata request) external pure returns (BridgeTransaction memory) {
        if (request.length < OFFSET_ZAP_DATA || uint16(bytes2(request[0:2])) != REQUEST_VERSION) {
            return abi.decode(request, (BridgeTransaction));
        }
        BridgeTransactionV2 memory t = _decodeV2(request);
        return BridgeTransaction(
            t.originChainId,
            t.destChainId,
            t.originSender,
            t.destRecipient,
            t.originToken,
            t.destToken,
            t.originAmount,
            t.destAmount,
            t.originFeeAmount,
            t.zapNative != 0,
            t.deadline,
            t.nonce
        );
    }

    // ───────────────────────────────────────── internals ─────────────────────────────────────────

    function _validateBridgeParams(
        BridgeParams memory params,
        BridgeParamsV2 memory paramsV2,
        int256 exclusivityEndTime
    ) private view {
        if (params.dstChainId == block.chainid) revert ChainIncorrect();
        if (params.originAmount == 0 || params.destAmount == 0) revert AmountIncorrect();
        if (params.sender == address(0) || params.to == address(0)) revert ZeroAddress();
        if (params.originToken == address(0) || params.destToken == address(0)) revert ZeroAddress();
        if (params.deadline < block.timestamp + MIN_DEADLINE_PERIOD) revert DeadlineTooShort();
        if (paramsV2.zapData.length > MAX_ZAP_DATA_LENGTH) revert ZapDataLengthAboveMax();
        if (paramsV2.zapNative != 0 && params.destToken == NATIVE_GAS_TOKEN) revert ZapNativeNotSupported();
        if (exclusivityEndTime < 0 || exclusivityEndTime > int256(params.deadline)) {
            revert ExclusivityParamsIncorrect();
        }
    }

    /// @dev Native: the value is already here. ERC20: pull from msg.sender (who pays may differ from
    /// params.sender, e.g. a router) and count what actually arrived.
    function _takeUserAsset(address token, uint256 amount) private returns (uint256) {
        if (token == NATIVE_GAS_TOKEN) {
            if (msg.value != amount) revert MsgValueIncorrect();
            return amount;
        }
        if (msg.value != 0) revert MsgValueIncorrect();
        if (token.code.length == 0) revert TokenNotContract();
        uint256 before = SafeToken.balanceOf(token, address(this));
        SafeToken.safeTransferFrom(token, msg.sender, address(this), amount);
        return SafeToken.balanceOf(token, address(this)) - before;
    }

    /// @dev Encodes, stores and announces a new request (split from bridgeV2 for the stack limit).
    function _recordRequest(BridgeTransactionV2 memory t, bytes memory quoteId) private {
        bytes memory request = _encodeV2(t);
        bytes32 transactionId = keccak256(request);
        BridgeTxDetails storage details = bridgeTxDetails[transactionId];
        details.status = BridgeStatus.REQUESTED;
        details.destChainId = t.destChainId;

        emit BridgeRequested(
            transactionId,
            t.originSender,
            request,
            t.destChainId,
            t.originToken,
            t.destToken,
            t.originAmount,
            t.destAmount,
            t.zapNative != 0
        );
        if (quoteId.length != 0) emit BridgeQuoteDetails(transactionId, quoteId);
    }

    function _transferOut(address token, address to, uint256 amount) private {
        if (token == NATIVE_GAS_TOKEN) {
            _sendNative(to, amount);
        } else {
            SafeToken.safeTransfer(token, to, amount);
        }
    }

    function _sendNative(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert NativeTransferFailed();
    }

    /// @dev Like the real contract, a request with zapData can only be relayed to a contract that answers
    /// the zap hook with its selector: an EOA recipient makes the relay revert (AddressEmptyCode, the error
    /// the real contract's OpenZeppelin call helper raises).
    function _zap(address recipient, address token, uint256 amount, bytes memory zapData) private {
        if (recipient.code.length == 0) revert AddressEmptyCode(recipient);
        (bool ok, bytes memory ret) =
            recipient.call{value: msg.value}(abi.encodeCall(IZapRecipient.zap, (token, amount, zapData)));
        if (!ok) {
            if (ret.length == 0) revert RecipientNoReturnValue();
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        if (ret.length == 0) revert RecipientNoReturnValue();
        if (ret.length != 32 || bytes32(ret) != bytes32(IZapRecipient.zap.selector)) {
            revert RecipientIncorrectReturnValue();
        }
    }

    function _timeSince(uint40 timestamp) private view returns (uint256) {
        return block.timestamp - timestamp;
    }

    // ── packed V2 request codec (REFERENCE §1) ──

    function _validateV2(bytes calldata request) private pure {
        if (request.length < OFFSET_ZAP_DATA) revert BridgeTransactionV2__InvalidEncodedTx();
        uint16 version = uint16(bytes2(request[0:OFFSET_ORIGIN_CHAIN_ID]));
        if (version != REQUEST_VERSION) revert BridgeTransactionV2__UnsupportedVersion(version);
    }

    /// @dev Two encodePacked halves keep the legacy code generator within its stack limit.
    function _encodeV2(BridgeTransactionV2 memory t) private pure returns (bytes memory) {
        return bytes.concat(
            abi.encodePacked(
                REQUEST_VERSION,
                t.originChainId,
                t.destChainId,
                t.originSender,
                t.destRecipient,
                t.originToken,
                t.destToken,
                t.originAmount
            ),
            abi.encodePacked(
                t.destAmount,
                t.originFeeAmount,
                t.deadline,
                t.nonce,
                t.exclusivityRelayer,
                t.exclusivityEndTime,
                t.zapNative,
                t.zapData
            )
        );
    }

    /// @dev Assumes _validateV2 passed.
    function _decodeV2(bytes calldata request) private pure returns (BridgeTransactionV2 memory t) {
        t.originChainId = uint32(bytes4(request[OFFSET_ORIGIN_CHAIN_ID:OFFSET_DEST_CHAIN_ID]));
        t.destChainId = uint32(bytes4(request[OFFSET_DEST_CHAIN_ID:OFFSET_ORIGIN_SENDER]));
        t.originSender = _addressAt(request, OFFSET_ORIGIN_SENDER);
        t.destRecipient = _addressAt(request, OFFSET_DEST_RECIPIENT);
        t.originToken = _addressAt(request, OFFSET_ORIGIN_TOKEN);
        t.destToken = _addressAt(request, OFFSET_DEST_TOKEN);
        t.originAmount = _uintAt(request, OFFSET_ORIGIN_AMOUNT);
        t.destAmount = _uintAt(request, OFFSET_DEST_AMOUNT);
        t.originFeeAmount = _uintAt(request, OFFSET_ORIGIN_FEE_AMOUNT);
        t.deadline = _uintAt(request, OFFSET_DEADLINE);
        t.nonce = _uintAt(request, OFFSET_NONCE);
        t.exclusivityRelayer = _addressAt(request, OFFSET_EXCLUSIVITY_RELAYER);
        t.exclusivityEndTime = _uintAt(request, OFFSET_EXCLUSIVITY_END_TIME);
        t.zapNative = _uintAt(request, OFFSET_ZAP_NATIVE);
        t.zapData = request[OFFSET_ZAP_DATA:];
    }

    function _addressAt(bytes calldata request, uint256 offset) private pure returns (address) {
        return address(bytes20(request[offset:offset + 20]));
    }

    function _uintAt(bytes calldata request, uint256 offset) private pure returns (uint256) {
        return uint256(bytes32(request[offset:offset + 32]));
    }
}
