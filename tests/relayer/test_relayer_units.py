import pytest

from engine.units import format_units


@pytest.mark.parametrize(("amount", "decimals", "symbol", "text"), [
    (120_000_000, 6, "USDC", "120 USDC"),
    (999_900_000, 6, "USDC", "999.9 USDC"),
    (400_000, 6, "USDC", "0.4 USDC"),
    (1, 18, "ETH", "0.000000000000000001 ETH"),
    (0, 6, "USDC", "0 USDC"),
    (-1_500_000, 6, "USDC", "-1.5 USDC"),
    (5, 0, "WEI", "5 WEI"),
    (1_500_000, 6, "", "1.5"),
    (2**256 - 1, 18, "X", "115792089237316195423570985008687907853269984665640564039457.584007913129639935 X"),
])
def test_format_units_is_exact_and_trimmed(amount, decimals, symbol, text):
    assert format_units(amount, decimals, symbol) == text


def test_negative_decimals_are_refused():
    with pytest.raises(ValueError):
        format_units(1, -1, "X")
