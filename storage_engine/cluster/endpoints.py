"""Which drive endpoints are this node's own.

An endpoint is a local path (``/data1``: always ours) or a URL (``http://host:port/path``). A URL is ours
when its port is our listen port and its host is ours: the configured ``RUSTFS_LOCAL_HOST``, the
machine's host name (a Kubernetes pod's host name is the first label of its DNS name), or a name that
resolves to an address of this machine. When ``--address`` names a host, only that address counts, so
several nodes can share one machine on different loopback addresses or ports.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from storage_engine.config import EngineSettings


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str               # as configured
    scheme: str            # "" for a local path
    host: str
    port: int
    path: str

    @property
    def is_url(self) -> bool:
        return bool(self.scheme)

    @property
    def base_url(self) -> str:
        """``scheme://host:port`` of the node serving this endpoint."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    if "://" not in text:
        return Endpoint(text, "", "", 0, text)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.path.startswith("/"):
        raise ValueError(f"drive endpoint must look like http(s)://host:port/path, got {text!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Endpoint(text, parts.scheme, parts.hostname.lower(), port, parts.path)


def is_distributed(endpoints: Iterable[str]) -> bool:
    """Whether any drive is a URL (then drives of other nodes are reached over the node-to-node API)."""
    return any("://" in e for e in endpoints)


def _addresses(host: str) -> set[str] | None:
    """The addresses ``host`` resolves to; None when it does not resolve (yet)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return None
    return {str(info[4][0]) for info in infos}


def _is_own_address(address: str) -> bool:
    """Whether ``address`` belongs to this machine: only then can a socket be bound to it."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        return False
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


class LocalityResolver:
    """Decides, endpoint by endpoint, whether a URL endpoint is served by this process."""

    def __init__(self, settings: EngineSettings, hostname: str | None = None) -> None:
        self.port = settings.port
        self.local_host = settings.local_host.lower()
        self.bound_host = "" if settings.host in ("0.0.0.0", "::", "") else settings.host
        self.hostname = (hostname if hostname is not None else socket.gethostname()).lower()

    def is_local(self, endpoint: Endpoint) -> bool | None:
        """True or False; None when the host does not resolve yet and nothing else decides."""
        if not endpoint.is_url:
            return True
        if endpoint.port != self.port:
            return False
        host = endpoint.host
        if self.local_host and host in (self.local_host, self.local_host.split(".")[0]):
            return True
        if self.bound_host:
            if host == self.bound_host:
                return True
            addresses = _addresses(host)
            return None if addresses is None else self.bound_host in addresses
        if self.hostname and host.split(".")[0] == self.hostname.split(".")[0]:
            return True
        addresses = _addresses(host)
        if addresses is None:
            return None
        return any(_is_own_address(a) for a in addresses)
