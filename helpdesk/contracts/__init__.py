"""Contracts: which package a client is on, on which day; upgrades, downgrades, add-ons."""

from .services import (  # noqa: F401
    active_contract,
    active_contracts,
    contract_on,
    has_active_contract,
    has_addon,
    package_on,
)
