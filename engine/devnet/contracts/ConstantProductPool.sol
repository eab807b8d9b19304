// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ReentrancyLock} from "./ReentrancyLock.sol";
import {SafeToken} from "./SafeToken.sol";

/// @title ConstantProductPool
/// @notice A minimal x*y=k pool that gives the devnet an on-chain spot price for a token against a quote
/// token (price of token0 in token1 = reserve1 / reserve0, in base units). token0 is the priced token and
/// token1 the quote token, in constructor order (not address order, unlike Uniswap V2). Liquidity can be
/// added by anyone and is never withdrawn: there are no LP shares, this is a price reference, not a DEX.
contract ConstantProductPool is ReentrancyLock {
    address public immutable token0;
    address public immutable token1;

    uint112 private _reserve0;
    uint112 private _reserve1;
    uint32 private _blockTimestampLast;

    uint256 public constant FEE_PER_MILLE = 3; // 0.3 % of the input stays in the pool

    event LiquidityAdded(address indexed provider, uint256 amount0, uint256 amount1);
    event Swap(address indexed sender, address indexed tokenIn, uint256 amountIn, uint256 amountOut, address indexed to);
    event Sync(uint112 reserve0, uint112 reserve1);

    error IdenticalTokens();
    error InsufficientLiquidity();
    error InsufficientOutputAmount(uint256 amountOut, uint256 minOut);
    error InvalidToken(address token);
    error ReserveOverflow();
    error ZeroAmount();

    constructor(address token, address quoteToken) {
        if (token == quoteToken) revert IdenticalTokens();
        token0 = token;
        token1 = quoteToken;
    }

    /// @notice Same shape as Uniswap V2's getReserves, so generic pool readers work unchanged.
    function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast) {
        return (_reserve0, _reserve1, _blockTimestampLast);
    }

    /// @notice Adds both tokens in any ratio (the first deposit sets the price); pulls from msg.sender.
    function addLiquidity(uint256 amount0, uint256 amount1) external nonReentrant {
        if (amount0 == 0 && amount1 == 0) revert ZeroAmount();
        uint256 received0 = _pull(token0, amount0);
        uint256 received1 = _pull(token1, amount1);
        emit LiquidityAdded(msg.sender, received0, received1);
        _update(_reserve0 + received0, _reserve1 + received1);
    }

    function getAmountOut(address tokenIn, uint256 amountIn) public view returns (uint256) {
        (uint256 reserveIn, uint256 reserveOut) = _orderedReserves(tokenIn);
        if (reserveIn == 0 || reserveOut == 0) revert InsufficientLiquidity();
        uint256 amountInWithFee = amountIn * (1000 - FEE_PER_MILLE);
        return (amountInWithFee * reserveOut) / (reserveIn * 1000 + amountInWithFee);
    }

    /// @notice Sells exactly `amountIn` of `tokenIn` (pulled from msg.sender) for the other token, sent to `to`.
    function swapExactIn(address tokenIn, uint256 amountIn, uint256 minOut, address to)
        external
        nonReentrant
        returns (uint256 amountOut)
    {
        if (amountIn == 0) revert ZeroAmount();
        if (tokenIn != token0 && tokenIn != token1) revert InvalidToken(tokenIn);
        // Price on what really arrived, so a fee-on-transfer token cannot drain the pool.
        uint256 received = _pull(tokenIn, amountIn);
        amountOut = getAmountOut(tokenIn, received);
        if (amountOut < minOut || amountOut == 0) revert InsufficientOutputAmount(amountOut, minOut);

        bool zeroForOne = tokenIn == token0;
        address tokenOut = zeroForOne ? token1 : token0;
        emit Swap(msg.sender, tokenIn, received, amountOut, to);
        if (zeroForOne) {
            _update(_reserve0 + received, _reserve1 - amountOut);
        } else {
            _update(_reserve0 - amountOut, _reserve1 + received);
        }
        SafeToken.safeTransfer(tokenOut, to, amountOut);
    }

    function _orderedReserves(address tokenIn) private view returns (uint256 reserveIn, uint256 reserveOut) {
        if (tokenIn == token0) return (_reserve0, _reserve1);
        if (tokenIn == token1) return (_reserve1, _reserve0);
        revert InvalidToken(tokenIn);
    }

    function _pull(address token, uint256 amount) private returns (uint256) {
        if (amount == 0) return 0;
        uint256 before = SafeToken.balanceOf(token, address(this));
        SafeToken.safeTransferFrom(token, msg.sender, address(this), amount);
        return SafeToken.balanceOf(token, address(this)) - before;
    }

    function _update(uint256 reserve0, uint256 reserve1) private {
        if (reserve0 > type(uint112).max || reserve1 > type(uint112).max) revert ReserveOverflow();
        _reserve0 = uint112(reserve0);
        _reserve1 = uint112(reserve1);
        _blockTimestampLast = uint32(block.timestamp);
        emit Sync(uint112(reserve0), uint112(reserve1));
    }
}
