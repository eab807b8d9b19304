"""The engine's durable storage: models, transactions and migrations (SQLite or PostgreSQL)."""
from engine.store.database import (
    Database,
    StorageBusy,
    StorageError,
    StorageUnavailable,
    insert_ignore,
)
from engine.store.models import (
    Base,
    BatchMember,
    BridgeOrder,
    ChainCursor,
    ChainLog,
    DeadLetter,
    EngineFlag,
    OperatorJournal,
    OrderTransition,
    OutboundTx,
    Rebalance,
    RecentBlock,
    SignerNonce,
)
from engine.store.breaker_models import BreakerReading  # noqa: E402 - registers its table on Base
from engine.store.types import AddressHex, Bytes32Hex, Uint256, UtcDateTime

__all__ = [
    "AddressHex",
    "Base",
    "BatchMember",
    "BreakerReading",
    "BridgeOrder",
    "Bytes32Hex",
    "ChainCursor",
    "ChainLog",
    "Database",
    "DeadLetter",
    "EngineFlag",
    "OperatorJournal",
    "OrderTransition",
    "OutboundTx",
    "Rebalance",
    "RecentBlock",
    "SignerNonce",
    "StorageBusy",
    "StorageError",
    "StorageUnavailable",
    "Uint256",
    "UtcDateTime",
    "insert_ignore",
]
