"""Reading what the breakers watch on a chain: ONE Multicall3 ``aggregate3`` per head, pinned to the
head's hash; storing readings in a window of the most recent blocks; and decoding reference pools'
Swap/Sync logs while skipping logs of blocks reorged away.

The engine calls ``read_chain`` for each new canonical head (chains in parallel), feeds the result
to ``BreakerBoard.observe_reading`` and persists it with ``store_reading``.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from sqlalchemy import delete, select

from engine.breakers.rules import NATIVE, ChainReading, PoolReading
from engine.chain.rpc import BlockHeader, ChainRpc, RawLog
from engine.protocol import calls
from engine.store import Database
from engine.store.breaker_models import BreakerReading

#: blocks of readings kept per chain; older ones are pruned as new ones arrive
READING_WINDOW_BLOCKS = 512

AGGREGATE3 = calls.selector("aggregate3((address,bool,bytes)[])")
GET_ETH_BALANCE = calls.selector("getEthBalance(address)")
TOTAL_SUPPLY = calls.selector("totalSupply()")
DECIMALS = calls.selector("decimals()")
GET_RESERVES = calls.selector("getReserves()")
TOKEN0 = calls.selector("token0()")
TOKEN1 = calls.selector("token1()")

SWAP_TOPIC = keccak(text="Swap(address,address,uint256,uint256,address)")
SYNC_TOPIC = keccak(text="Sync(uint112,uint112)")


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


class MulticallFailed(RuntimeError):
    """A call inside the batch reverted: the whole reading is refused rather than half-read."""


def encode_aggregate3(batch: Sequence[tuple[str, bytes]]) -> bytes:
    # allowFailure=false: a watched value that cannot be read must fail the reading loudly.
    return AGGREGATE3 + abi_encode(["(address,bool,bytes)[]"],
                                   [[(to_checksum_address(target), False, data) for target, data in batch]])


def decode_aggregate3(raw: bytes) -> list[bytes]:
    (results,) = abi_decode(["(bool,bytes)[]"], raw)
    if not all(success for success, _ in results):
        raise MulticallFailed("a call in the multicall batch failed")
    return [data for _, data in results]


async def _aggregate(rpc: ChainRpc, multicall: str, batch: Sequence[tuple[str, bytes]],
                     block: bytes | str = "latest") -> list[bytes]:
    return decode_aggregate3(await rpc.call(multicall, encode_aggregate3(batch), block))


async def load_pool_specs(rpc: ChainRpc, multicall: str, pools: Sequence[str]) -> tuple[PoolSpec, ...]:
    """token0/token1 and both decimals of each pool (two multicalls: the tokens are needed first)."""
    if not pools:
        return ()
    sides = await _aggregate(rpc, multicall, [(pool, selector) for pool in pools for selector in (TOKEN0, TOKEN1)])
    tokens = [to_checksum_address(abi_decode(["address"], raw)[0]) for raw in sides]
    decimals = [calls.decode_uint(raw) for raw in await _aggregate(rpc, multicall, [(t, DECIMALS) for t in tokens])]
    return tuple(PoolSpec(to_checksum_address(pool), tokens[2 * i], tokens[2 * i + 1], decimals[2 * i],
                          decimals[2 * i + 1]) for i, pool in enumerate(pools))


async def read_chain(rpc: ChainRpc, watch: ChainWatch, head: BlockHeader) -> ChainReading:
    """Everything ``watch`` names at exactly ``head`` (by hash, EIP-1898): one eth_call."""
    erc20s = [t for t in watch.tokens if t.lower() != NATIVE]
    batch: list[tuple[str, bytes]] = [(watch.multicall, GET_ETH_BALANCE + abi_encode(["address"], [watch.relayer]))]
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
    return ChainReading(watch.chain_id, head.number, "0x" + head.hash.hex(), head.timestamp, supplies, pools,
                        balances, gas_balance, head.base_fee_per_gas)


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
    async with db.write() as session:
        await session.execute(delete(BreakerReading).where(BreakerReading.chain_id == reading.chain_id,
                                                           BreakerReading.block_number >= reading.block_number))
        session.add(BreakerReading(**_row(reading)))
        await session.flush()
        pruned = await session.execute(
            delete(BreakerReading).where(BreakerReading.chain_id == reading.chain_id,
                                         BreakerReading.block_number <= reading.block_number - window_blocks))
        return pruned.rowcount


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
