"""The devnet's cast: anvil's standard dev accounts (public keys of a public mnemonic, devnet only)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from eth_account import Account

from engine.devnet.anvil import DEV_MNEMONIC

DEPLOYER, RELAYER, COMPETITOR, ATTESTER = 0, 1, 2, 3
FIRST_USER = 4
ACCOUNT_COUNT = 10


@dataclass(frozen=True)
class DevAccount:
    index: int
    address: str
    private_key: bytes

    def __repr__(self) -> str:  # keys stay out of logs even on a devnet
        return f"DevAccount({self.index}, {self.address})"


@lru_cache(maxsize=None)
def dev_account(index: int) -> DevAccount:
    Account.enable_unaudited_hdwallet_features()
    acct = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return DevAccount(index, acct.address, bytes(acct.key))


def user_accounts() -> list[DevAccount]:
    return [dev_account(i) for i in range(FIRST_USER, ACCOUNT_COUNT)]
