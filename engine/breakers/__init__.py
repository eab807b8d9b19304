"""Circuit breakers: per-block readings of what the rules watch, and the rules that halt a scope."""
from engine.breakers.rules import (
    BreakerBoard,
    BreakerState,
    ChainHealth,
    ChainReading,
    FailureTally,
    PoolReading,
    TokenFacts,
)

__all__ = [
    "BreakerBoard",
    "BreakerState",
    "ChainHealth",
    "ChainReading",
    "FailureTally",
    "PoolReading",
    "TokenFacts",
]
