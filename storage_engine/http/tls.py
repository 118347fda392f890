"""HTTPS for the S3 port from the TLS directory (``RUSTFS_TLS_PATH``; the layout is docs/tls.md's).

    tls = ServerTls.load("/etc/rustfs/tls")       # None without rustfs_cert.pem + rustfs_key.pem
    await loop.create_server(..., ssl=tls.context)
    watcher = asyncio.create_task(tls.watch(5.0)) # swaps in rotated certificates

Layout::

    rustfs_cert.pem, rustfs_key.pem           the default pair (certificate chain, private key)
    ca.crt                                    CAs for node-to-node traffic (``cluster/rpc_client.py``)
    <domain>/rustfs_cert.pem, rustfs_key.pem  one pair per SNI name; ``*.<domain>`` for a wildcard

Every handshake goes through one ``sni_callback`` on the listening context, which points the
connection at the *current* context of the name the client asked for: the exact domain's pair, else
a ``*.<parent>`` pair, else the parent domain's pair (virtual-hosted buckets under a domain whose
certificate carries the wildcard), else the default pair. Reloading builds new contexts and swaps
them into the table the callback reads, so new handshakes get the new certificate while open
connections keep the session they negotiated and are never dropped.

Clients drop TLS connections mid-response (wrk at the end of every run). uvloop's SSL layer then discards the
writes that follow, without backpressure and before the connection-lost callback tells the responder, and warns
``asyncio: SSL connection is closed`` for each one past the fifth. Those warnings say nothing but "the peer left";
``ServerTls`` drops exactly them (``ExpectedSslCloses``), and every other asyncio record still shows. (The
responder itself stops at a transport it closed: ``is_closing()`` is checked before each write.)

The watcher compares the files' contents (SHA-256), not mtimes, and opens them by path, so it follows
symlinks: a Kubernetes Secret volume rotates by swapping its ``..data`` symlink, and dot-directories
(``..data``, ``..2024_...``) are never taken for domains. A pair that fails to load (half written,
key and certificate not matching) is logged and the previous one kept; the same broken contents are
not reported twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import ssl
from dataclasses import dataclass

CERT_FILE = "rustfs_cert.pem"
KEY_FILE = "rustfs_key.pem"
CA_FILE = "ca.crt"

log = logging.getLogger("storage_engine.http.tls")


class TlsError(Exception):
    """A certificate pair cannot be used (missing half, unreadable, not matching its key)."""


class ExpectedSslCloses(logging.Filter):
    """Drops uvloop's ``SSL connection is closed`` warnings (writes to a connection the peer already closed)."""

    MESSAGE = "SSL connection is closed"        # uvloop/sslproto.pyx, _write_appdata

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == self.MESSAGE and record.levelno == logging.WARNING)


def quiet_expected_ssl_closes() -> None:
    """Install :class:`ExpectedSslCloses` on the ``asyncio`` logger (once)."""
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, ExpectedSslCloses) for f in asyncio_log.filters):
        asyncio_log.addFilter(ExpectedSslCloses())


@dataclass(frozen=True, slots=True)
class _Pair:
    digest: bytes                       # SHA-256 over the certificate and key files' contents
    context: ssl.SSLContext             # the last one that loaded (a refused digest keeps the old)


def has_certificate(path: str) -> bool:
    """Whether ``path`` holds the default pair, i.e. whether the engine serves HTTPS."""
    return bool(path) and os.path.isfile(os.path.join(path, CERT_FILE)) \
        and os.path.isfile(os.path.join(path, KEY_FILE))


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context for one pair: TLS 1.2 or newer, HTTP/1.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as exc:
        raise TlsError(f"{cert_file} / {key_file}: {exc}") from exc
    return context


def _digest(cert_file: str, key_file: str) -> bytes | None:
    h = hashlib.sha256()
    try:
        for name in (cert_file, key_file):
            with open(name, "rb") as f:             # follows symlinks (Secret volumes' ..data)
                h.update(f.read())
                h.update(b"\0")
    except OSError:
        return None
    return h.digest()


class ServerTls:
    """The listening context and the current per-name contexts behind it; reloadable."""

    def __init__(self, path: str) -> None:
        quiet_expected_ssl_closes()
        self.path = path
        self.generation = 0             # bumped on every swap (tests and logs)
        self._default: _Pair
        self._domains: dict[str, _Pair] = {}
        self._default = self._load_pair(None, None)
        self.context = server_context(*self._files(None))
        self.context.sni_callback = self._pick
        self._reload_domains()

    @classmethod
    def load(cls, path: str) -> ServerTls | None:
        """The TLS of ``path``; None when it holds no default pair (plain HTTP).

        Raises :class:`TlsError` when the pair is there but unusable, or only half of it is.
        """
        if not path:
            return None
        cert, key = (os.path.isfile(os.path.join(path, n)) for n in (CERT_FILE, KEY_FILE))
        if not cert and not key:
            return None
        if not (cert and key):
            missing = KEY_FILE if cert else CERT_FILE
            raise TlsError(f"{os.path.join(path, missing)} is missing (HTTPS needs {CERT_FILE} and {KEY_FILE})")
        return cls(path)

    # --- files -----------------------------------------------------------------------------------
    def _files(self, domain: str | None) -> tuple[str, str]:
        base = self.path if domain is None else os.path.join(self.path, domain)
        return os.path.join(base, CERT_FILE), os.path.join(base, KEY_FILE)

    def _domain_dirs(self) -> list[str]:
        try:
            entries = list(os.scandir(self.path))
        except OSError:
            return []
        return sorted(e.name.lower() for e in entries
                      if not e.name.startswith(".") and e.is_dir() and has_certificate(e.path))

    def _load_pair(self, domain: str | None, old: _Pair | None) -> _Pair:
        """The pair of ``domain`` (None: the default) as it is on disk now; ``old`` if unchanged."""
        cert, key = self._files(domain)
        digest = _digest(cert, key)
        if digest is None:
            if old is not None:
                log.error("TLS: cannot read %s / %s; keeping the previous certificate", cert, key)
                return old
            raise TlsError(f"cannot read {cert} / {key}")
        if old is not None and old.digest == digest:
            return old
        try:
            return _Pair(digest, server_context(cert, key))
        except TlsError as exc:
            if old is None:
                raise
            log.error("TLS: new certificate of %s refused (%s); keeping the previous one",
                      domain or "the default", exc)
            return _Pair(digest, old.context)   # this digest is not reported again

    def _reload_domains(self) -> bool:
        changed = False
        domains: dict[str, _Pair] = {}
        for domain in self._domain_dirs():
            old = self._domains.get(domain)
            try:
                pair = self._load_pair(domain, old)
            except TlsError as exc:
                log.error("TLS: certificate of %s refused (%s); not served", domain, exc)
                continue
            changed |= pair is not old
            domains[domain] = pair
        changed |= domains.keys() != self._domains.keys()
        self._domains = domains
        return changed

    def reload(self) -> bool:
        """Re-read the directory; swap in what changed and loads. Returns whether anything was swapped."""
        old = self._default
        default = self._load_pair(None, old)
        changed = default.context is not old.context
        self._default = default
        changed |= self._reload_domains()
        if changed:
            self.generation += 1
            log.info("TLS: certificates reloaded from %s (default%s)", self.path,
                     f" + {', '.join(self._domains)}" if self._domains else "")
        return changed

    async def watch(self, interval: float) -> None:
        """Reload every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                self.reload()
            except Exception:                   # the watcher must outlive any surprise
                log.exception("TLS: reloading %s failed; keeping the current certificates", self.path)

    # --- handshakes --------------------------------------------------------------------------------
    def context_for(self, server_name: str | None) -> ssl.SSLContext:
        """The current context for a client asking for ``server_name`` (None: no SNI)."""
        if server_name:
            name = server_name.lower().rstrip(".")
            parent = name.partition(".")[2]
            for candidate in (name, f"*.{parent}", parent):
                pair = self._domains.get(candidate)
                if pair is not None:
                    return pair.context
        return self._default.context

    def _pick(self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
              _context: ssl.SSLContext) -> None:
        connection.context = self.context_for(server_name)
