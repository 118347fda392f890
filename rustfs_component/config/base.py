"""Shared building blocks of the config models: the strict base model and name/quantity types."""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

TierName = Literal["hot", "warm"]
"""The block-storage tiers every cluster offers; `cold` is an object-store bucket, not a StorageClass."""

TIERS: tuple[TierName, ...] = ("hot", "warm")


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors (a typo never silently becomes a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# RFC 1123 label, short enough that "<tenant>-<pool>-<ordinal>" and "<tenant>-<pool>-hl" stay DNS labels.
DnsLabel = Annotated[str, StringConstraints(pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
TenantName = Annotated[str, StringConstraints(pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$", max_length=24)]
PoolName = Annotated[str, StringConstraints(pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$", max_length=12)]

_QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_UNITS = {"": Decimal(1), "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
          "Pi": Decimal(2**50), "Ei": Decimal(2**60), "m": Decimal("0.001"), "k": Decimal(10**3),
          "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15), "E": Decimal(10**18)}


def _check_quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(f"not a Kubernetes quantity (e.g. '500m', '2Gi', '1Ti'): {value!r}")
    return value


Quantity = Annotated[str, AfterValidator(_check_quantity)]
"""A Kubernetes resource quantity such as `2Gi` or `500m`."""


def quantity_value(quantity: str) -> Decimal:
    """`"2Gi"` -> Decimal(2147483648); exact (Decimal), since quotas are sums of many quantities."""
    match = _QUANTITY.match(quantity)
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    number = quantity[: len(quantity) - len(match.group(3) or "")]
    return Decimal(number) * _UNITS[match.group(3) or ""]


def format_quantity(value: Decimal, unit: str) -> str:
    """Render a summed quantity in `unit` (`Gi` for bytes, `m` for CPU), rounded up to a whole unit."""
    whole = (value / _UNITS[unit]).to_integral_value(rounding=ROUND_CEILING)
    return f"{int(whole)}{unit}"
