"""Subnet CIDR carving shared by the clouds that create a VPC: stable, computed from config only."""

from __future__ import annotations

import ipaddress


def carve(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Split `vpc_cidr` into `zones` private and `zones` public subnets.

    Private subnets (nodes and, with VPC-native CNIs, pods) are the first eighths of the VPC; public
    subnets (NAT, load balancers) are small blocks of the last eighth. Adding a zone never moves an
    existing subnet, so no subnet (and no node pool) is replaced by it.
    """
    network = ipaddress.ip_network(vpc_cidr)
    if network.prefixlen > 20:
        raise ValueError(f"vpc_cidr {vpc_cidr}: need a /20 or larger VPC")
    if not 1 <= zones <= 6:
        raise ValueError("between 1 and 6 zones")
    eighths = list(network.subnets(prefixlen_diff=3))
    private = [str(block) for block in eighths[:zones]]
    public = [str(block) for block in list(eighths[7].subnets(prefixlen_diff=3))[:zones]]
    return private, public
