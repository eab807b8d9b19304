"""Column types that behave identically on SQLite and PostgreSQL.

uint256 is the reason this module exists: ``Numeric(78, 0)`` on SQLite silently rounds large values
(REFERENCE §7), so SQLite stores them as exact, zero-padded decimal text that sorts like the integer,
while PostgreSQL stores NUMERIC(78, 0). Both hand back a Python ``int``.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, String
from sqlalchemy.dialects.postgresql import NUMERIC
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator, TypeEngine

UINT256_MAX = 2**256 - 1
UINT256_DIGITS = len(str(UINT256_MAX))  # 78

# Autoincrementing surrogate keys: BIGINT on PostgreSQL, INTEGER on SQLite (only "INTEGER PRIMARY
# KEY" is SQLite's auto-assigned rowid; "BIGINT PRIMARY KEY" would never be filled in).
AutoId = BigInteger().with_variant(Integer(), "sqlite")

# SQL arithmetic on a uint256 column would concatenate text on SQLite or round through REAL: refuse it.
_ARITHMETIC = frozenset(
    {
        operators.add,
        operators.sub,
        operators.mul,
        operators.truediv,
        operators.floordiv,
        operators.mod,
        operators.neg,
        operators.concat_op,
    }
)


def check_uint256(value: Any) -> int:
    """``value`` as an int in [0, 2**256), or a ValueError/TypeError that says why not."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"uint256 value must be an int, got {type(value).__name__}: {value!r}")
    if value < 0:
        raise ValueError(f"uint256 value must not be negative, got {value}")
    if value > UINT256_MAX:
        raise ValueError(f"uint256 value must be below 2**256, got {value}")
    return value


class Uint256(TypeDecorator[int]):
    """An unsigned 256-bit integer, exact on both backends.

    PostgreSQL: NUMERIC(78, 0). SQLite: text of exactly 78 digits, so ``ORDER BY`` and comparisons
    with ints (bound through this type) follow integer order. Arithmetic and aggregates (``SUM``)
    must be done in Python: SQL arithmetic is refused, and ``SUM`` over SQLite text is not exact.
    """

    impl = String(UINT256_DIGITS)
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator[int]):  # type: ignore[name-defined]
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            if op in _ARITHMETIC:
                raise TypeError("uint256 columns do not support SQL arithmetic; compute in Python")
            return super().operate(op, *other, **kwargs)

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            if op in _ARITHMETIC:
                raise TypeError("uint256 columns do not support SQL arithmetic; compute in Python")
            return super().reverse_operate(op, other, **kwargs)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(NUMERIC(UINT256_DIGITS, 0, asdecimal=True))
        return dialect.type_descriptor(String(UINT256_DIGITS))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = check_uint256(value)
        if dialect.name == "postgresql":
            return Decimal(number)  # exact: Decimal(int) never rounds
        return f"{number:0{UINT256_DIGITS}d}"

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            number = int(value)
            if number != value:
                raise ValueError(f"uint256 column holds a non-integer value {value}")
            return number
        return int(value)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both backends.

    PostgreSQL: TIMESTAMP WITH TIME ZONE. SQLite: naive UTC text (which sorts), re-tagged as UTC on
    the way out. Naive datetimes are refused: local wall-clock time must never reach the database.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware (UTC) datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


class _LowerHex(TypeDecorator[str]):
    """``0x``-prefixed hex of a fixed byte length, stored lowercase so equality and dedupe keys
    never depend on how a caller spelled it (checksummed addresses, upper-case hashes)."""

    impl = String
    cache_ok = True
    byte_length: int = 0

    def __init__(self) -> None:
        super().__init__(2 + 2 * self.byte_length)
        self._pattern = re.compile(rf"0x[0-9a-fA-F]{{{2 * self.byte_length}}}")

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not self._pattern.fullmatch(value):
            raise ValueError(
                f"expected 0x-prefixed hex of {self.byte_length} bytes, got {value!r}"
            )
        return value.lower()

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return value


class Bytes32Hex(_LowerHex):
    """A 32-byte value (transaction id, block or transaction hash, topic) as lowercase hex."""

    byte_length = 32
    cache_ok = True  # SQLAlchemy reads it from each class's own namespace


class AddressHex(_LowerHex):
    """A 20-byte EVM address as lowercase hex (compare with ``.lower()`` of a checksummed one)."""

    byte_length = 20
    cache_ok = True
