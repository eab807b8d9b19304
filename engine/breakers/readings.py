"""Reading what the breakers watch on a chain: ONE Multicall3 ``aggregate3`` per head, pinned to the
head's hash; storing readings in a window of the most recent blocks; and decoding reference pools'
Swap/Sync logs while skipping logs of blocks reorged away.

The engine calls ``read_chain`` for each new canonical head (chains in parallel), feeds the result
to ``BreakerBoard.observe_reading``, and persists the readings in batches with ``store_readings``
(one write transaction about once a second). With the same head it fetches the reference pools'
Swap/Sync logs in ONE ``eth_getLogs`` (``fetch_pool_events``) for ``BreakerBoard.observe_pool_events``.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from eth_abi import decode as abi_decode
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.breakers.rules import NATIVE, ChainReading, PoolReading
from engine.chain.rpc import BlockHeader, ChainRpc, RawLog
from engine.protocol import calls
from engine.protocol.codec import checksum_address, keccak256
from engine.protocol.multicall import (  # noqa: F401 - AGGREGATE3, MulticallFailed and the codecs re-exported
    AGGREGATE3,
    GET_ETH_BALANCE,
    MulticallFailed,
    aggregate3,
    decode_aggregate3,
    encode_aggregate3,
    encode_get_eth_balance,
)
from engine.store import Database
from engine.store.breaker_models import BreakerReading

#: blocks of readings kept per chain; older ones are pruned as new ones arrive
READING_WINDOW_BLOCKS = 512

TOTAL_SUPPLY = calls.selector("totalSupply()")
DECIMALS = calls.selector("decimals()")
GET_RESERVES = calls.selector("getReserves()")
TOKEN0 = calls.selector("token0()")
TOKEN1 = calls.selector("token1()")

SWAP_TOPIC = keccak256(b"Swap(address,address,uint256,uint256,address)")
SYNC_TOPIC = keccak256(b"Sync(uint112,uint112)")


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """A reference pool: ``token`` priced in ``quote_token`` (static; read once with ``load_pool_specs``)."""

    pool: str  # checksum address
    token: str  # checksum address (token0)
    quote_token: str  # checksum address (token1)
    token_decimals: int
    quote_decimals: int


@dataclass(frozen=True, slots=True)
class ChainWatch:
    """What to read on one chain at each head."""

    chain_id: int
    multicall: str  # Multicall3 address
    relayer: str  # whose balances and gas are watched
    tokens: tuple[str, ...]  # ERC20s whose total supply and relayer balance are read (native sentinel: balance only)
    pools: tuple[PoolSpec, ...] = ()


# The Multicall3 codec lives in engine.protocol.multicall (the inventory refresh uses it too);
# allowFailure=false there by default: a watched value that cannot be read must fail the reading loudly.
_aggregate = aggregate3


async def load_pool_specs(rpc: ChainRpc, multicall: str, pools: Sequence[str]) -> tuple[PoolSpec, ...]:
    """token0/token1 and both decimals of each pool (two multicalls: the tokens are needed first)."""
    if not pools:
        return ()
    sides = await _aggregate(rpc, multicall, [(pool, selector) for pool in pools for selector in (TOKEN0, TOKEN1)])
    tokens = [checksum_address(abi_decode(["address"], raw)[0]) for raw in sides]
    decimals = [calls.decode_uint(raw) for raw in await _aggregate(rpc, multicall, [(t, DECIMALS) for t in tokens])]
    return tuple(PoolSpec(checksum_address(pool), tokens[2 * i], tokens[2 * i + 1], decimals[2 * i],
                          decimals[2 * i + 1]) for i, pool in enumerate(pools))


async def read_chain(rpc: ChainRpc, watch: ChainWatch, head: BlockHeader) -> ChainReading:
    """Everything ``watch`` names at exactly ``head`` (by hash, EIP-1898): one eth_call (plus eth_gasPrice
    on a chain whose blocks have no base fee)."""
    erc20s = [t for t in watch.tokens if t.lower() != NATIVE]
    batch: list[tuple[str, bytes]] = [(watch.multicall, encode_get_eth_balance(watch.relayer))]
    batch += [(token, TOTAL_SUPPLY) for token in erc20s]
    batch += [(token, calls.encode_balance_of(watch.relayer)) for token in erc20s]
    batch += [(pool.pool, GET_RESERVES) for pool in watch.pools]
    results = iter(await _aggregate(rpc, watch.multicall, batch, head.hash))
    gas_balance = calls.decode_uint(next(results))
    supplies = {token.lower(): calls.decode_uint(next(results)) for token in erc20s}
    balances = {token.lower(): calls.decode_uint(next(results)) for token in erc20s}
    if any(t.lower() == NATIVE for t in watch.tokens):
        balances[NATIVE] = gas_balance
    pools = {}
    for pool in watch.pools:
        reserve_token, reserve_quote, _ = abi_decode(["uint112", "uint112", "uint32"], next(results))
        pools[pool.pool.lower()] = PoolReading(pool.pool.lower(), pool.token.lower(), pool.quote_token.lower(),
                                               reserve_token, reserve_quote, pool.token_decimals, pool.quote_decimals)
    # a chain without EIP-1559 has no base fee: gas_price_cap then watches eth_gasPrice (one more call there only)
    gas_price = await rpc.gas_price() if head.base_fee_per_gas is None else None
    return ChainReading(watch.chain_id, head.number, "0x" + head.hash.hex(), head.timestamp, supplies, pools,
                        balances, gas_balance, head.base_fee_per_gas, gas_price)


# ---------------------------------------------------------------------------------------------- storage


def _amounts(mapping: Mapping[str, int]) -> dict[str, str]:
    return {key: str(value) for key, value in mapping.items()}


def _row(reading: ChainReading) -> dict:
    return dict(
        chain_id=reading.chain_id, block_number=reading.block_number, block_hash=reading.block_hash,
        block_timestamp=reading.block_timestamp, gas_balance=reading.gas_balance, base_fee=reading.base_fee,
        gas_price=reading.gas_price, total_supplies=_amounts(reading.total_supplies),
        balances=_amounts(reading.balances),
        pools={address: {"token": p.token, "quote_token": p.quote_token,
                         "reserves": [str(p.reserve_token), str(p.reserve_quote)],
                         "decimals": [p.token_decimals, p.quote_decimals]} for address, p in reading.pools.items()},
    )


def _reading(row: BreakerReading) -> ChainReading:
    pools = {address: PoolReading(address, p["token"], p["quote_token"], int(p["reserves"][0]), int(p["reserves"][1]),
                                  p["decimals"][0], p["decimals"][1]) for address, p in row.pools.items()}
    return ChainReading(row.chain_id, row.block_number, row.block_hash, row.block_timestamp,
                        {k: int(v) for k, v in row.total_supplies.items()}, pools,
                        {k: int(v) for k, v in row.balances.items()}, row.gas_balance, row.base_fee, row.gas_price)


async def store_reading(db: Database, reading: ChainReading, *, window_blocks: int = READING_WINDOW_BLOCKS) -> int:
    """Persist ``reading`` and prune the chain's readings to the last ``window_blocks`` blocks.

    A reading at a height already stored (a reorg) replaces the readings from that height up: they
    describe blocks that are no longer canonical. Returns how many rows were pruned.
    """
    return await store_readings(db, [reading], window_blocks=window_blocks)


async def store_readings(db: Database, readings: Iterable[ChainReading], *,
                         window_blocks: int = READING_WINDOW_BLOCKS) -> int:
    """Persist a batch of readings (any chains, each chain's in chain order) and prune every chain to
    its last ``window_blocks`` blocks, in ONE write transaction: the monitor flushes its readings at
    most about once a second instead of once per block per chain (the relayer shares the one writer).

    Per chain, the stored readings from the batch's first height up are replaced (a reorg since the
    last flush); within the batch a later reading at a height already seen replaces it too. Returns
    how many rows were pruned."""
    per_chain: dict[int, list[ChainReading]] = {}
    for reading in readings:
        kept = per_chain.setdefault(reading.chain_id, [])
        while kept and kept[-1].block_number >= reading.block_number:
            kept.pop()
        kept.append(reading)
    if not per_chain:
        return 0

    def store(session: Session) -> int:
        pruned = 0
        for chain_id, batch in per_chain.items():
            session.execute(delete(BreakerReading).where(BreakerReading.chain_id == chain_id,
                                                         BreakerReading.block_number >= batch[0].block_number))
            session.add_all([BreakerReading(**_row(reading)) for reading in batch[-window_blocks:]])
            session.flush()
            result = session.execute(
                delete(BreakerReading).where(BreakerReading.chain_id == chain_id,
                                             BreakerReading.block_number <= batch[-1].block_number - window_blocks))
            pruned += result.rowcount
        return pruned

    return await db.run_write(store)


async def load_readings(db: Database, chain_id: int, *, last: int | None = None) -> list[ChainReading]:
    """The stored readings of ``chain_id``, oldest first (only the ``last`` newest when given)."""
    query = (select(BreakerReading).where(BreakerReading.chain_id == chain_id)
             .order_by(BreakerReading.block_number.desc()))
    if last is not None:
        query = query.limit(last)
    async with db.read() as session:
        rows = (await session.execute(query)).scalars().all()
    return [_reading(row) for row in reversed(rows)]


# ---------------------------------------------------------------------------------------------- pool logs


@dataclass(frozen=True, slots=True)
class PoolSwap:
    pool: str  # lowercase address
    block_number: int
    block_hash: str  # 0x lowercase hex
    log_index: int
    sender: str
    token_in: str  # lowercase address
    amount_in: int
    amount_out: int
    to: str


@dataclass(frozen=True, slots=True)
class PoolSync:
    pool: str  # lowercase address
    block_number: int
    block_hash: str
    log_index: int
    reserve_token: int  # the pool's reserves after the swap (token0, token1)
    reserve_quote: int


def _topic_address(topic: bytes) -> str:
    return "0x" + topic[-20:].hex()


def decode_pool_log(log: RawLog) -> PoolSwap | PoolSync | None:
    """A ConstantProductPool's Swap or Sync log; None for any other log."""
    if not log.topics:
        return None
    where = (log.address.lower(), log.block_number, "0x" + log.block_hash.hex(), log.log_index)
    if log.topics[0] == SWAP_TOPIC and len(log.topics) == 4:
        amount_in, amount_out = abi_decode(["uint256", "uint256"], log.data)
        return PoolSwap(*where, _topic_address(log.topics[1]), _topic_address(log.topics[2]), amount_in, amount_out,
                        _topic_address(log.topics[3]))
    if log.topics[0] == SYNC_TOPIC:
        reserve_token, reserve_quote = abi_decode(["uint112", "uint112"], log.data)
        return PoolSync(*where, reserve_token, reserve_quote)
    return None


def canonical_pool_events(logs: Iterable[RawLog], canonical_hashes: Collection[bytes]) -> list[PoolSwap | PoolSync]:
    """Decoded Swap/Sync events of blocks still canonical, in chain order. A log is skipped when its
    node marked it removed or its block hash is not among ``canonical_hashes`` (anvil never marks
    removed logs: the engine's parent-hash reorg detection is the source of truth)."""
    kept = [log for log in logs if not log.removed and log.block_hash in canonical_hashes]
    kept.sort(key=lambda log: (log.block_number, log.log_index))
    return [event for event in map(decode_pool_log, kept) if event is not None]


def pool_readings_at_block_end(events: Iterable[PoolSwap | PoolSync],
                               specs: Mapping[str, PoolSpec]) -> dict[tuple[str, int], PoolReading]:
    """Each watched pool's state at the end of every block in which it synced, keyed by (pool, block):
    the last Sync of a block is its closing spot price, what the price_drop rule compares between blocks."""
    out: dict[tuple[str, int], PoolReading] = {}
    watched = {address.lower(): spec for address, spec in specs.items()}
    for event in events:
        spec = watched.get(event.pool)
        if isinstance(event, PoolSync) and spec is not None:
            out[(event.pool, event.block_number)] = PoolReading(
                event.pool, spec.token.lower(), spec.quote_token.lower(), event.reserve_token, event.reserve_quote,
                spec.token_decimals, spec.quote_decimals)
    return out


async def fetch_pool_events(rpc: ChainRpc, pools: Sequence[str], from_block: int, to_block: int,
                            canonical_hashes: Collection[bytes]) -> list[PoolSwap | PoolSync]:
    """Swap and Sync logs of ``pools`` over [from_block, to_block], canonical blocks only."""
    logs = await rpc.get_logs(list(pools), from_block, to_block, [[SWAP_TOPIC, SYNC_TOPIC]])
    return canonical_pool_events(logs, canonical_hashes)
