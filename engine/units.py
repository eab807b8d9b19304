"""Token amounts for people: exact base units -> "1000.5 USDC" (integer arithmetic, never float)."""
from __future__ import annotations


def format_units(amount: int, decimals: int, symbol: str) -> str:
    """`amount` base units of a `decimals`-decimals token, trailing zeros trimmed: 1_500_000, 6 -> "1.5 USDC".

    Exact for any uint256 (Decimal's default 28-digit context would round a large amount).
    """
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")
    whole, frac = divmod(abs(amount), 10**decimals)
    digits = str(frac).rjust(decimals, "0").rstrip("0") if decimals else ""
    text = f"{'-' if amount < 0 else ''}{whole}{'.' + digits if digits else ''}"
    return f"{text} {symbol}" if symbol else text
