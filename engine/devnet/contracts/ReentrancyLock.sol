// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Reentrancy guard on a transient storage slot (EIP-1153, evmVersion cancun): the lock costs
/// no persistent storage and is cleared at the end of the transaction even if a frame reverts oddly.
abstract contract ReentrancyLock {
    bool private transient _locked;

    error ReentrantCall();

    modifier nonReentrant() {
        if (_locked) revert ReentrantCall();
        _locked = true;
        _;
        _locked = false;
    }
}
