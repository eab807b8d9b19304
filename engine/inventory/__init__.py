"""Inventory, quotes, limits and rebalancing: pure building blocks the engine feeds with live facts.

`quotes` (REFERENCE §3), `limits` (exposure caps as decision gates), `rebalance` (REFERENCE §4),
`cctp` (rebalance execution through a CCTP-shaped burn/mint) and `rfq_push` (quotes to an RFQ API).
"""
