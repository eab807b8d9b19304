"""Deploys the project's contracts on one devnet chain and funds the cast.

Uses anvil's unlocked dev accounts (eth_sendTransaction): the node signs, which keeps the devnet
fast and leaves real signing to the engine's submitter.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from eth_utils import to_checksum_address
from web3 import Web3
from web3.providers import HTTPProvider

from engine.devnet.accounts import ATTESTER, COMPETITOR, DEPLOYER, RELAYER, dev_account, user_accounts
from engine.devnet.anvil import AnvilNode
from engine.devnet.contracts_registry import load_artifact
from engine.protocol.codec import NATIVE_TOKEN

MAX_UINT256 = 2**256 - 1


@dataclass(frozen=True)
class TokenSpec:
    symbol: str
    name: str
    decimals: int
    price_usd: str
    relayer_inventory: int  # whole tokens per chain
    user_balance: int  # whole tokens per user per chain: more than the relayer's whole inventory


DEVNET_TOKENS = (
    TokenSpec("USDC", "USD Coin (devnet)", 6, "1", 100_000, 1_000_000),
    TokenSpec("DAI", "Dai Stablecoin (devnet)", 18, "1", 100_000, 1_000_000),
)
NATIVE = TokenSpec("ETH", "Ether", 18, "2600", 100, 1_000)
# The pools price every ERC20 against one reference stable so the breaker has a spot price to watch.
REFERENCE_STABLE = TokenSpec("USDR", "USD Reference (devnet)", 18, "1", 0, 0)
POOL_DEPTH_USD = 1_000_000


@dataclass
class ChainDeployment:
    chain_id: int
    rpc_url: str
    ws_url: str
    bridge: str = ""
    multicall: str = ""
    token_messenger: str = ""
    message_transmitter: str = ""
    cctp_domain: int = 0
    tokens: dict[str, str] = field(default_factory=dict)  # symbol -> address (ETH -> sentinel)
    pools: dict[str, str] = field(default_factory=dict)  # symbol -> pool address
    deploy_block: int = 0

    def to_json(self) -> dict:
        return {
            "chain_id": self.chain_id, "rpc_url": self.rpc_url, "ws_url": self.ws_url,
            "cctp_domain": self.cctp_domain, "deploy_block": self.deploy_block,
            "contracts": {
                "bridge": self.bridge, "multicall": self.multicall,
                "token_messenger": self.token_messenger, "message_transmitter": self.message_transmitter,
            },
            "tokens": self.tokens, "pools": self.pools,
        }


class ChainDeployer:
    def __init__(self, node: AnvilNode, cctp_domain: int) -> None:
        self.node = node
        self.w3 = Web3(HTTPProvider(node.rpc_url, request_kwargs={"timeout": 30}))
        self.deployer = dev_account(DEPLOYER).address
        self.out = ChainDeployment(node.chain_id, node.rpc_url, node.ws_url, cctp_domain=cctp_domain)

    def _send(self, tx: dict, sender: str | None = None) -> dict:
        tx = {"from": sender or self.deployer, **tx}
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_transaction(tx), timeout=30)
        if receipt["status"] != 1:
            raise RuntimeError(f"devnet deployment transaction reverted on chain {self.node.chain_id}: {tx.get('to')}")
        return receipt

    def deploy(self, name: str, *args) -> str:
        art = load_artifact(name)
        data = self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(*args).data_in_transaction
        return to_checksum_address(self._send({"data": data})["contractAddress"])

    def call(self, name: str, address: str, fn: str, *args, sender: str | None = None, value: int = 0) -> dict:
        contract = self.w3.eth.contract(address=address, abi=load_artifact(name).abi)
        data = contract.get_function_by_name(fn)(*args)._encode_transaction_data()
        return self._send({"to": address, "data": data, "value": value}, sender)

    def deploy_all(self, dispute_period: int, min_deadline_period: int) -> ChainDeployment:
        out = self.out
        relayer, competitor = dev_account(RELAYER).address, dev_account(COMPETITOR).address
        out.multicall = self.deploy("Multicall3")
        out.bridge = self.deploy("FastBridgeV2", self.deployer, dispute_period, min_deadline_period)
        for prover in (relayer, competitor):
            self.call("FastBridgeV2", out.bridge, "addProver", prover)
        self.call("FastBridgeV2", out.bridge, "addGuard", self.deployer)
        self.call("FastBridgeV2", out.bridge, "addCanceler", self.deployer)
        out.message_transmitter = self.deploy(
            "MessageTransmitter", out.cctp_domain, dev_account(ATTESTER).address, self.deployer
        )
        out.token_messenger = self.deploy("TokenMessenger", out.message_transmitter, self.deployer)
        reference = self.deploy("DevToken", REFERENCE_STABLE.name, REFERENCE_STABLE.symbol,
                                REFERENCE_STABLE.decimals, self.deployer)
        out.tokens[REFERENCE_STABLE.symbol] = reference
        for spec in DEVNET_TOKENS:
            token = self.deploy("DevToken", spec.name, spec.symbol, spec.decimals, self.deployer)
            out.tokens[spec.symbol] = token
            self.call("DevToken", token, "setMinter", out.token_messenger, True)
            unit = 10**spec.decimals
            self.call("DevToken", token, "mint", relayer, spec.relayer_inventory * unit)
            for user in [competitor] + [u.address for u in user_accounts()]:
                self.call("DevToken", token, "mint", user, spec.user_balance * unit)
                self.call("DevToken", token, "approve", out.bridge, MAX_UINT256, sender=user)
            out.pools[spec.symbol] = self._seed_pool(token, spec, reference)
        out.tokens[NATIVE.symbol] = NATIVE_TOKEN
        self._fund_native(relayer, competitor)
        out.deploy_block = self.w3.eth.block_number
        return out

    def _seed_pool(self, token: str, spec: TokenSpec, reference: str) -> str:
        pool = self.deploy("ConstantProductPool", token, reference)
        token_amount = POOL_DEPTH_USD * 10**spec.decimals  # price 1 USD for the devnet stables
        ref_amount = POOL_DEPTH_USD * 10**REFERENCE_STABLE.decimals
        self.call("DevToken", token, "mint", self.deployer, token_amount)
        self.call("DevToken", reference, "mint", self.deployer, ref_amount)
        self.call("DevToken", token, "approve", pool, token_amount)
        self.call("DevToken", reference, "approve", pool, ref_amount)
        self.call("ConstantProductPool", pool, "addLiquidity", token_amount, ref_amount)
        return pool

    def _fund_native(self, relayer: str, competitor: str) -> None:
        # anvil gives every dev account the same balance: make users richer than the relayer's
        # whole native inventory, so an order too large to fill can be placed.
        self.node.rpc("anvil_setBalance", [relayer, hex(NATIVE.relayer_inventory * 10**18)])
        for user in [competitor] + [u.address for u in user_accounts()]:
            self.node.rpc("anvil_setBalance", [user, hex(NATIVE.user_balance * 10**18)])


def link_cctp(deployers: list[ChainDeployer]) -> None:
    """Trust every other chain's messenger and map each token to its counterpart there."""
    for local in deployers:
        for remote in deployers:
            if remote is local:
                continue
            domain = remote.out.cctp_domain
            local.call("TokenMessenger", local.out.token_messenger, "addRemoteTokenMessenger",
                       domain, _bytes32(remote.out.token_messenger))
            for spec in DEVNET_TOKENS:
                local.call("TokenMessenger", local.out.token_messenger, "linkTokenPair",
                           local.out.tokens[spec.symbol], domain, _bytes32(remote.out.tokens[spec.symbol]))


def _bytes32(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])
