// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title DevToken
/// @notice Plain ERC20 for the devnet (USDC-like with 6 decimals, DAI-like with 18). The admin and the
/// authorized minters (the devnet funder, the CCTP-shaped TokenMessenger, tests that mint a watched token
/// massively) can mint; minters burn through burnFrom, which spends the holder's allowance like a transfer.
contract DevToken {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    address public immutable admin;

    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    mapping(address => bool) public isMinter;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event MinterUpdated(address indexed minter, bool allowed);

    // OpenZeppelin v5 error names, so reverts read the same as on common real tokens.
    error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed);
    error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
    error ERC20InvalidReceiver(address receiver);
    error ERC20InvalidSpender(address spender);
    error Unauthorized();

    modifier onlyMinter() {
        if (msg.sender != admin && !isMinter[msg.sender]) revert Unauthorized();
        _;
    }

    constructor(string memory name_, string memory symbol_, uint8 decimals_, address admin_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        admin = admin_;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        _spendAllowance(from, msg.sender, value);
        _transfer(from, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        if (spender == address(0)) revert ERC20InvalidSpender(spender);
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function setMinter(address minter, bool allowed) external {
        if (msg.sender != admin) revert Unauthorized();
        isMinter[minter] = allowed;
        emit MinterUpdated(minter, allowed);
    }

    function mint(address to, uint256 value) external onlyMinter {
        if (to == address(0)) revert ERC20InvalidReceiver(to);
        totalSupply += value;
        unchecked {
            balanceOf[to] += value; // cannot overflow: bounded by totalSupply
        }
        emit Transfer(address(0), to, value);
    }

    /// @notice Burns `value` of `from`'s tokens; `from` must have approved the caller (a minter).
    function burnFrom(address from, uint256 value) external onlyMinter {
        _spendAllowance(from, msg.sender, value);
        _debit(from, value);
        unchecked {
            totalSupply -= value; // cannot underflow: value <= balance <= totalSupply
        }
        emit Transfer(from, address(0), value);
    }

    function _transfer(address from, address to, uint256 value) private {
        if (to == address(0)) revert ERC20InvalidReceiver(to);
        _debit(from, value);
        unchecked {
            balanceOf[to] += value;
        }
        emit Transfer(from, to, value);
    }

    function _debit(address from, uint256 value) private {
        uint256 balance = balanceOf[from];
        if (balance < value) revert ERC20InsufficientBalance(from, balance, value);
        unchecked {
            balanceOf[from] = balance - value;
        }
    }

    /// @dev An allowance of type(uint256).max is infinite and never decreases (the common convention).
    function _spendAllowance(address owner, address spender, uint256 value) private {
        uint256 allowed = allowance[owner][spender];
        if (allowed == type(uint256).max) return;
        if (allowed < value) revert ERC20InsufficientAllowance(spender, allowed, value);
        unchecked {
            allowance[owner][spender] = allowed - value;
        }
    }
}
