"""Bitcoin area: addresses, the Core JSON-RPC client and (in subpackages) the regtest devnode.

Kept light on purpose: importing ``corridor.bitcoin`` must not start or import the devnode.
"""

from corridor.bitcoin.address import (
    AddressType,
    InvalidAddress,
    InvalidReason,
    ParsedAddress,
    normalize_address,
    parse_address,
    script_to_address,
)

__all__ = [
    "AddressType",
    "InvalidAddress",
    "InvalidReason",
    "ParsedAddress",
    "normalize_address",
    "parse_address",
    "script_to_address",
]
