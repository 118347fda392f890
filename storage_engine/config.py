"""The engine's settings: the single source of truth, shared with the Pulumi component.

Every setting is a field of :class:`EngineSettings`. Each can be given as an environment variable
``RUSTFS_<FIELD>`` (upper case); where RustFS has a setting for the same thing, the name is RustFS's
(``RUSTFS_ACCESS_KEY``, ``RUSTFS_SECRET_KEY``, ``RUSTFS_VOLUMES``, ``RUSTFS_ADDRESS``). The CLI's
flags override the environment. ``rustfs_component.engine`` renders a container's env from
:func:`render_env`, so no setting is spelled twice.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "RUSTFS_"

# Object data is erasure-coded in blocks of this size (fixed: it is part of the on-disk format).
BLOCK_SIZE = 1 << 20

_STORAGE_CLASS = re.compile(r"^EC:(\d+)$")


def default_parity(set_size: int) -> int:
    """Parity shards for a set of ``set_size`` drives: 4-5 drives -> 2, 6-7 -> 3, 8 or more -> 4.

    Sets of 1-3 drives (single-drive and test setups) get ``set_size // 2``.
    """
    if set_size >= 8:
        return 4
    if set_size >= 6:
        return 3
    if set_size >= 4:
        return 2
    return set_size // 2


def parse_storage_class(value: str) -> int | None:
    """``"EC:2"`` -> 2; ``""`` -> None (use the default parity)."""
    if not value:
        return None
    m = _STORAGE_CLASS.match(value.strip())
    if not m:
        raise ValueError(f"storage class must look like 'EC:<parity>', got {value!r}")
    return int(m.group(1))


class EngineSettings(BaseSettings):
    """Settings of one engine process. Field docs state the default; env names are ``RUSTFS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False)

    volumes: str = Field(
        default="",
        description="Drives, space-separated; each may use ellipsis expansion, e.g. '/data{1...4}' or "
                    "'http://node{1...4}:9000/data{1...4}'. One expression is one pool. Required.")
    address: str = Field(
        default=":9000", description="HOST:PORT to listen on; an empty host means all interfaces. Default ':9000'.")
    access_key: str = Field(
        default="",
        description="Root access key. Default (local drives only): generated on the first start, printed "
                    "once and kept with the drives.")
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Root secret key. Default (local drives only): generated on the first start, printed "
                    "once and kept with the drives.")
    region: str = Field(default="us-east-1", description="Region the server reports and signs for. Default 'us-east-1'.")
    server_domains: str = Field(
        default="",
        description="Comma-separated domains for virtual-hosted-style requests (bucket.DOMAIN). "
                    "Default: none, path-style only.")
    storage_class_standard: str = Field(
        default="",
        description="Parity of the STANDARD storage class, 'EC:<n>'. Default: by set size "
                    "(4-5 drives: 2, 6-7: 3, 8+: 4).")
    storage_class_rrs: str = Field(
        default="EC:1", description="Parity of the REDUCED_REDUNDANCY storage class, 'EC:<n>'. Default 'EC:1'.")
    max_clock_skew_seconds: int = Field(
        default=900, ge=1, description="Largest accepted difference between a request's date and ours. Default 900.")
    inline_threshold: int = Field(
        default=128 * 1024, ge=0, le=1 << 20,
        description="Objects up to this many bytes are stored inline in their metadata. Default 131072.")
    heal_interval_seconds: int = Field(
        default=3600, ge=0,
        description="Seconds between background heal scans of all objects; 0 disables the scan "
                    "(shards found bad on read are still healed). Default 3600.")
    workers: int = Field(
        default=1, ge=1, le=64,
        description="Server processes sharing one listening socket. Distributed mode (remote drives) "
                    "runs one process per node. Default 1.")
    local_host: str = Field(
        default="",
        description="This node's host name as the drive endpoints spell it. Default: found by resolving "
                    "the endpoints' hosts to this machine's addresses, or by the machine's host name.")
    rpc_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Shared secret of the node-to-node API. Default: derived from the root credentials.")
    tls_path: str = Field(
        default="",
        description="Directory of TLS material: rustfs_cert.pem, rustfs_key.pem (the default pair: HTTPS "
                    "on the S3 port), ca.crt (CAs trusted for node-to-node traffic), <domain>/rustfs_cert.pem "
                    "and rustfs_key.pem per SNI name. Default: none, plain HTTP.")
    tls_reload_seconds: float = Field(
        default=5.0, gt=0,
        description="Seconds between checks of the TLS files' contents; a changed pair is swapped in for "
                    "new connections (open ones keep theirs). Default 5.")
    drive_timeout_seconds: float = Field(
        default=30.0, gt=0,
        description="A drive operation (local or on a peer) with no answer within this many seconds "
                    "marks the drive offline until a probe succeeds. Default 30.")
    lock_lease_seconds: float = Field(
        default=30.0, gt=0,
        description="Lease of a distributed lock: a holder that stops refreshing it (crashed) loses it "
                    "after this many seconds. Default 30.")
    config_reload_seconds: float = Field(
        default=1.0, gt=0,
        description="Seconds between reloads of the cluster-wide config store (peers also notify each "
                    "other of changes at once). Default 1.")

    @field_validator("storage_class_standard", "storage_class_rrs")
    @classmethod
    def _check_storage_class(cls, value: str) -> str:
        parse_storage_class(value)
        return value

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"address must be HOST:PORT or :PORT, got {value!r}")
        del host
        return value

    @property
    def host(self) -> str:
        host = self.address.rpartition(":")[0].strip("[]")
        return host or "0.0.0.0"

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])

    @property
    def domains(self) -> list[str]:
        return [d.strip().lower() for d in self.server_domains.split(",") if d.strip()]


def env_name(field: str) -> str:
    """The environment variable of a settings field: ``env_name("access_key") == "RUSTFS_ACCESS_KEY"``."""
    if field not in EngineSettings.model_fields:
        raise KeyError(f"unknown engine setting {field!r}")
    return ENV_PREFIX + field.upper()


def render_env(**values: Any) -> dict[str, str]:
    """Validate ``values`` as engine settings and render them as environment variables.

    Only the given fields are rendered, so the engine's own defaults stay in one place. Secret values
    are rendered too: callers that must not see them pass them by reference instead (a Secret).
    """
    settings = EngineSettings.model_validate(values)
    env: dict[str, str] = {}
    for field in values:
        value = getattr(settings, field)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[env_name(field)] = str(value)
    return env
