// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Minimal SafeERC20-style transfers for the devnet contracts.
/// @dev Low-level calls so that tokens returning nothing (USDT-style) are accepted as well as tokens
/// returning a bool; a call to an address without code would "succeed" silently, so it is rejected.
library SafeToken {
    error SafeToken__NotContract(address token);
    error SafeToken__CallFailed(address token);

    function safeTransfer(address token, address to, uint256 amount) internal {
        _call(token, abi.encodeWithSelector(0xa9059cbb, to, amount)); // transfer(address,uint256)
    }

    function safeTransferFrom(address token, address from, address to, uint256 amount) internal {
        _call(token, abi.encodeWithSelector(0x23b872dd, from, to, amount)); // transferFrom(address,address,uint256)
    }

    function balanceOf(address token, address account) internal view returns (uint256) {
        (bool ok, bytes memory ret) = token.staticcall(abi.encodeWithSelector(0x70a08231, account));
        if (!ok || ret.length < 32) revert SafeToken__CallFailed(token);
        return abi.decode(ret, (uint256));
    }

    function _call(address token, bytes memory data) private {
        if (token.code.length == 0) revert SafeToken__NotContract(token);
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok) {
            // Bubble the token's own revert reason: it is what a developer needs to see.
            if (ret.length == 0) revert SafeToken__CallFailed(token);
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        if (ret.length != 0 && !abi.decode(ret, (bool))) revert SafeToken__CallFailed(token);
    }
}
