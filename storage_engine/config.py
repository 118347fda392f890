"""The engine's settings: the single source of truth, shared with the Pulumi component.

Every setting is a field of :class:`EngineSettings`. Each can be given as an environment variable
``RUSTFS_<FIELD>`` (upper case); where RustFS has a setting for the same thing, the name is RustFS's
(``RUSTFS_ACCESS_KEY``, ``RUSTFS_SECRET_KEY``, ``RUSTFS_VOLUMES``, ``RUSTFS_ADDRESS``). The CLI's
flags override the environment. ``rustfs_component.engine`` renders a container's env from
:func:`render_env`, so no setting is spelled twice.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "RUSTFS_"

# Object data is erasure-coded in blocks of this size (fixed: it is part of the on-disk format).
BLOCK_SIZE = 1 << 20

_STORAGE_CLASS = re.compile(r"^EC:(\d+)$")
_KMS_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

KMS_KEY_BYTES = 32
DEFAULT_VAULT_JWT_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"


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


def parse_kms_secret_key(value: str) -> tuple[str, bytes]:
    """``"<key-id>:<base64 of 32 bytes>"`` (MinIO's ``MINIO_KMS_SECRET_KEY`` form) -> (key id, key)."""
    key_id, sep, encoded = value.strip().partition(":")
    if not sep or not _KMS_KEY_ID.match(key_id):
        raise ValueError("a KMS secret key must look like '<key-id>:<base64 of 32 bytes>' (key id: letters, "
                         "digits, '.', '_', '-')")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the KMS secret key after '<key-id>:' is not base64") from None
    if len(key) != KMS_KEY_BYTES:
        raise ValueError(f"the KMS secret key must be {KMS_KEY_BYTES} bytes, got {len(key)}")
    return key_id, key


# A tier's name is the StorageClass lifecycle rules transition to (AWS spells storage classes this way).
TIER_NAME_PATTERN = r"^[A-Z][A-Z0-9_-]{0,31}$"
RESERVED_STORAGE_CLASSES = frozenset({"STANDARD", "REDUCED_REDUNDANCY"})


class _TierBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=TIER_NAME_PATTERN,
                      description="The storage class rules transition to and x-amz-storage-class reports, e.g. 'WARM'.")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_STORAGE_CLASSES:
            raise ValueError(f"{value!r} is the hot set's own storage class, not a tier name")
        return value


class PoolTierSpec(_TierBase):
    """A warm tier: one more pool of drives, erasure-coded like the hot pools but never chosen for new writes."""

    type: Literal["pool"] = "pool"
    drives: str = Field(min_length=1, description="The pool's drives, one ellipsis expression as in 'volumes', "
                                                  "e.g. '/hdd{1...4}' or 'http://warm-{0...3}.svc:9000/data{1...2}'.")


class WebIdentity(BaseModel):
    """Credentials from STS AssumeRoleWithWebIdentity (EKS IRSA): the projected token, exchanged for keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role_arn: str = Field(min_length=1)
    token_file: str = Field(default="/var/run/secrets/eks.amazonaws.com/serviceaccount/token", min_length=1)
    sts_endpoint: str = Field(default="", description="Default: https://sts.<region>.amazonaws.com.")


class S3TierSpec(_TierBase):
    """A cold tier: a bucket and prefix on an S3-compatible service (AWS S3, OSS, COS, any S3 endpoint).

    Credentials: key files (a mounted Secret; read again when they change), or ``web_identity``."""

    type: Literal["s3"] = "s3"
    endpoint: str = Field(description="http(s)://host[:port] of the service.")
    addressing: Literal["path", "virtual"] = Field(
        default="path", description="'path': <endpoint>/<bucket>/<key>; 'virtual': <bucket>.<endpoint host>/<key> "
                                    "(Alibaba OSS and Tencent COS serve only this). Default 'path'.")
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = Field(default="", description="Key prefix of this engine's objects in the bucket, e.g. 'tenant/'.")
    region: str = "us-east-1"
    storage_class: str = Field(default="STANDARD", pattern=r"^[A-Z][A-Z0-9_]{0,63}$",
                               description="x-amz-storage-class of the objects put there, e.g. 'STANDARD_IA'.")
    access_key_file: str = ""
    secret_key_file: str = ""
    web_identity: WebIdentity | None = None

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError("a tier endpoint must look like http(s)://host[:port]")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_credential_source(self) -> S3TierSpec:
        files = (bool(self.access_key_file), bool(self.secret_key_file))
        if files[0] != files[1]:
            raise ValueError("access_key_file and secret_key_file: give both or neither")
        if files[0] and self.web_identity is not None:
            raise ValueError("give one credential source: the key files or web_identity")
        return self

    @property
    def has_credential_source(self) -> bool:
        return bool(self.access_key_file) or self.web_identity is not None


TierSpec = Annotated[PoolTierSpec | S3TierSpec, Field(discriminator="type")]


class EngineSettings(BaseSettings):
    """Settings of one engine process. Field docs state the default; env names are ``RUSTFS_<FIELD>``."""

    # Errors never echo the input: it may hold a secret (kms_secret_key, kms_vault_token, ...).
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False,
                                      hide_input_in_errors=True)

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
    region: str = Field(
        default="us-east-1", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="Region the server signs for and reports. Set (RUSTFS_REGION), only signatures scoped to it "
                    "are accepted; not set, a signature scoped to any region is, and the server answers with the "
                    "client's region. Default: not set, reported as 'us-east-1'.")
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
    scanner_interval_seconds: float = Field(
        default=60.0, ge=0,
        description="Seconds between the bucket usage scanner's passes (objects, versions and bytes per "
                    "bucket, for the rustfs_bucket_* metrics); 0 disables the scanner. Default 60.")
    scanner_delay: float = Field(
        default=2.0, ge=0, le=100,
        description="Pacing of the usage scanner, as MinIO's: after each page of a listing it sleeps the "
                    "time that page took times this factor (at most 1 s); 0 scans flat out. Default 2.")
    tiers: list[TierSpec] = Field(
        default_factory=list,
        description="Tiers declared at start (JSON list in the environment): {'type': 'pool', 'name', 'drives'} "
                    "for a warm pool, {'type': 's3', 'name', 'endpoint', 'bucket', 'prefix', 'region', "
                    "'storage_class', 'access_key_file' + 'secret_key_file' | 'web_identity': {'role_arn', "
                    "'token_file', 'sts_endpoint'}} for a cold bucket (docs/tiering.md). More cold tiers can be added "
                    "with the admin API. Default: none.")
    lifecycle_defaults: dict[str, str] = Field(
        default_factory=dict,
        description="Default lifecycle configurations (JSON: bucket name, or '*' for every bucket -> "
                    "LifecycleConfiguration XML as PutBucketLifecycleConfiguration takes it). The engine puts it "
                    "on each such bucket that has no configuration of its own, at start and at CreateBucket, "
                    "through the same code as the API; a configuration a user put or deleted is left alone. "
                    "Default: none.")
    ilm_clock_offset_seconds: float = Field(
        default=0.0, ge=0,
        description="Tests only: seconds added to the clock the lifecycle rules see, so that 'Days: 1' is due "
                    "without waiting a day (the scanner applies expirations on its passes). Default 0.")
    workers: int = Field(
        default=0, ge=0, le=64,
        description="Server processes sharing one listening socket; 0 (the default): one per CPU this process "
                    "may use, its cgroup's CPU quota included (bench/run.py measured 1.4-1.6x the small-object "
                    "and concurrent throughput of one on 2 cores). Distributed mode (remote drives) runs one "
                    "process per node.")
    metrics_enabled: bool = Field(
        default=True,
        description="Keep the S3 request metrics (rustfs_s3_*) and serve GET /rustfs/metrics. False: neither "
                    "(the endpoint answers 404); the audit log is set apart (audit_*). Default true.")
    metrics_auth: Literal["token", "public"] = Field(
        default="token",
        description="Access to GET /rustfs/metrics: 'token' needs 'Authorization: Bearer <metrics_token>'; "
                    "'public' needs nothing. Default 'token'.")
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token of GET /rustfs/metrics (metrics_auth 'token'). Default: none (the endpoint "
                    "answers 403 until one is set).")
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
    group_commit: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="How a drive's flushes are made durable. on: concurrent writers share one syncfs of the "
                    "drive's file system (a group commit: far fewer device flushes for small objects, and metadata "
                    "commits made in batches by one thread per file system), which also "
                    "writes back whatever else is dirty on that file system; off: an fdatasync or fsync per file "
                    "and directory; auto: on where the drive's directory is a file system of its own (a mount "
                    "point), else off. Default auto.")
    lock_lease_seconds: float = Field(
        default=30.0, gt=0,
        description="Lease of a distributed lock: a holder that stops refreshing it (crashed) loses it "
                    "after this many seconds. Default 30.")
    config_reload_seconds: float = Field(
        default=1.0, gt=0,
        description="Seconds between reloads of the cluster-wide config store (peers also notify each "
                    "other of changes at once). Default 1.")
    trusted_proxies: str = Field(
        default="127.0.0.0/8,::1/128",
        description="Comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed: a request from "
                    "one has the first X-Forwarded-For hop as its aws:SourceIp (policy conditions), any other "
                    "the TCP peer. Default '127.0.0.0/8,::1/128' (loopback); '' trusts none.")

    iam_bootstrap_file: str = Field(
        default="",
        description="JSON document of IAM policies, groups and users applied at every start (storage_engine.iam."
                    "bootstrap: creates what is missing, converges what it declares, deletes nothing; users' secret "
                    "keys by file reference). Default: none.")

    # --- encryption at rest (docs/encryption.md "Settings") ---------------------------------------------
    kms_backend: Literal["", "static", "vault"] = Field(
        default="",
        description="KMS of SSE-S3 and SSE-KMS data keys: 'static' (one local key), 'vault' (Vault/OpenBao "
                    "transit). Default '': the static key of kms_secret_key(_file), else one created on the "
                    "first start and kept in the config store (record kms/static-key).")
    kms_secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Static KMS key, '<key-id>:<base64 of 32 bytes>' (MinIO's MINIO_KMS_SECRET_KEY form). "
                    "Excludes kms_secret_key_file and kms_backend 'vault'. Default: none.")
    kms_secret_key_file: str = Field(
        default="",
        description="File holding the static KMS key in the form of kms_secret_key (read at start). "
                    "Excludes kms_secret_key and kms_backend 'vault'. Default: none.")
    kms_default_key_id: str = Field(
        default="",
        description="KMS key of SSE-S3 and of SSE-KMS requests without a key id: the static key's id, or the "
                    "Vault transit key's name. Default (static): the static key's id; required with 'vault'.")
    kms_auto_encryption: bool | None = Field(
        default=None,
        description="Encrypt every new object (SSE-S3) that has no SSE request and no bucket default. "
                    "Default (unset): on when kms_backend is set explicitly, else off.")
    sse_cipher: Literal["AES256-GCM", "CHACHA20-POLY1305"] = Field(
        default="AES256-GCM",
        description="AEAD of newly written encrypted objects, 'AES256-GCM' or 'CHACHA20-POLY1305' (reads follow "
                    "each object's own record). Default 'AES256-GCM'.")
    sse_c_allow_insecure: bool = Field(
        default=False,
        description="Accept SSE-C keys over plain HTTP (behind a TLS-terminating proxy; tests). Default false.")
    kms_vault_address: str = Field(
        default="https://vault.vault.svc:8200",
        description="Vault/OpenBao base URL, http(s)://HOST[:PORT]. Default 'https://vault.vault.svc:8200'.")
    kms_vault_ca_file: str = Field(
        default="", description="CA bundle that verifies Vault's certificate. Default: the system CAs.")
    kms_vault_transit_mount: str = Field(
        default="transit", description="Mount path of Vault's transit secrets engine. Default 'transit'.")
    kms_vault_auth: Literal["token", "approle", "kubernetes"] = Field(
        default="token",
        description="How the engine logs in to Vault: 'token' (kms_vault_token or kms_vault_token_file), "
                    "'approle' (role id and secret id), 'kubernetes' (the ServiceAccount JWT). Default 'token'.")
    kms_vault_auth_mount: str = Field(
        default="", description="Mount path of the auth method. Default: the method's name ('approle', 'kubernetes').")
    kms_vault_token: SecretStr = Field(
        default=SecretStr(""),
        description="Vault token (auth 'token'). Excludes kms_vault_token_file. Default: none.")
    kms_vault_token_file: str = Field(
        default="",
        description="File holding the Vault token (auth 'token'), read again when Vault refuses the token. "
                    "Excludes kms_vault_token. Default: none.")
    kms_vault_approle_role_id: str = Field(default="", description="AppRole role id (auth 'approle'). Default: none.")
    kms_vault_approle_secret_id: SecretStr = Field(
        default=SecretStr(""), description="AppRole secret id (auth 'approle'). Default: none.")
    kms_vault_kubernetes_role: str = Field(
        default="", description="Vault role of the Kubernetes auth method (auth 'kubernetes'). Default: none.")
    kms_vault_kubernetes_jwt_file: str = Field(
        default=DEFAULT_VAULT_JWT_FILE,
        description="ServiceAccount token presented to Vault (auth 'kubernetes'), read at every login. "
                    f"Default '{DEFAULT_VAULT_JWT_FILE}'.")
    kms_timeout_seconds: float = Field(
        default=5.0, gt=0, le=300, description="Timeout of one KMS request, seconds. Default 5.")
    kms_retries: int = Field(
        default=3, ge=1, le=10,
        description="Attempts of a KMS request on connection errors, timeouts and 5xx answers, with "
                    "exponential backoff from 0.1 s. Default 3.")

    # --- STS, OpenID Connect, LDAP (docs/iam.md "Engine settings") ---------------------------------------
    sts_max_duration_seconds: int = Field(
        default=43200, ge=900, le=43200,
        description="Longest DurationSeconds of an STS session (900..43200); longer requests are refused "
                    "(ValidationError). Default 43200.")
    oidc_issuer: str = Field(
        default="",
        description="OpenID provider for AssumeRoleWithWebIdentity: exactly the tokens' 'iss' (discovery at "
                    "<issuer>/.well-known/openid-configuration). Needs oidc_client_id. Default: none (web "
                    "identity refused).")
    oidc_client_id: str = Field(default="", description="The audience ('aud') tokens must carry. Default: none.")
    oidc_client_secret: SecretStr = Field(
        default=SecretStr(""), description="The client's secret at the provider (kept for the console's login "
                                           "flow; token checks do not need it). Default: none.")
    oidc_ca_file: str = Field(
        default="", description="CA bundle that verifies the provider's certificate. Default: the system CAs.")
    oidc_user_claim: str = Field(
        default="sub", description="Claim naming the session's user (${aws:username}). Default 'sub'.")
    oidc_policy_claim: str = Field(
        default="policy",
        description="Claim listing policy names (a string, comma-separated, or an array); '' turns it off. "
                    "Default 'policy'.")
    oidc_groups_claim: str = Field(
        default="groups",
        description="Claim of groups or roles (an array or a string; a dotted name such as "
                    "'realm_access.roles' walks nested objects), mapped by oidc_group_policies; '' turns it off. "
                    "Default 'groups'.")
    oidc_group_policies: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Group / role claim value -> policy names (JSON in the environment, e.g. "
                    "'{\"admins\": [\"consoleAdmin\"]}'). Default: none.")
    ldap_server_url: str = Field(
        default="",
        description="LDAP server for AssumeRoleWithLDAPIdentity, ldap://host[:port] or ldaps://host[:port]. "
                    "Needs the lookup bind DN and password and the user search base and filter. Default: none "
                    "(LDAP refused).")
    ldap_start_tls: bool = Field(default=False, description="StartTLS on an ldap:// server. Default false.")
    ldap_ca_file: str = Field(
        default="", description="CA bundle for ldaps:// or StartTLS. Default: the system CAs.")
    ldap_lookup_bind_dn: str = Field(default="", description="DN the searches bind as. Default: none.")
    ldap_lookup_bind_password: SecretStr = Field(
        default=SecretStr(""), description="Password of ldap_lookup_bind_dn. Default: none.")
    ldap_user_search_base: str = Field(default="", description="Where users are searched. Default: none.")
    ldap_user_search_filter: str = Field(
        default="", description="User filter with %s for the username, e.g. '(uid=%s)'. Default: none.")
    ldap_group_search_base: str = Field(
        default="", description="Where groups are searched (with ldap_group_search_filter). Default: no groups.")
    ldap_group_search_filter: str = Field(
        default="",
        description="Group filter with %d (the user's DN) and/or %s (the username), e.g. "
                    "'(&(objectClass=groupOfNames)(member=%d))'. Default: no groups.")
    ldap_policies: dict[str, list[str]] = Field(
        default_factory=dict,
        description="User or group DN -> policy names (JSON in the environment); DNs compare case-"
                    "insensitively. Default: none.")
    # Audit log and logs (docs/audit.md, docs/observability.md)
    audit_stdout: bool = Field(
        default=True, description="One JSON audit record per request on stdout (JSON lines). Default true.")
    audit_file: str = Field(
        default="", description="Append audit records (JSON lines) to this file; reopened on SIGHUP or when "
                                "moved. Default: none.")
    audit_webhook_url: str = Field(
        default="", description="POST batches of audit records to this http(s) URL. Default: none.")
    audit_webhook_format: Literal["json", "elasticsearch"] = Field(
        default="json", description="'json': NDJSON batches; 'elasticsearch': the _bulk API (the URL ends in "
                                    "/_bulk) into audit_webhook_index. Default 'json'.")
    audit_webhook_index: str = Field(
        default="rustfs-audit", description="The Elasticsearch / OpenSearch index of the records. "
                                            "Default 'rustfs-audit'.")
    audit_webhook_auth_token: SecretStr = Field(
        default=SecretStr(""), description="Bearer token of the webhook; excludes audit_webhook_username. "
                                           "Default: none.")
    audit_webhook_username: str = Field(
        default="", description="Basic-auth user of the webhook (with audit_webhook_password). Default: none.")
    audit_webhook_password: SecretStr = Field(
        default=SecretStr(""), description="Basic-auth password of the webhook. Default: none.")
    audit_webhook_ca_file: str = Field(
        default="", description="CA bundle (PEM) that verifies an https webhook. Default: the system's.")
    audit_webhook_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Timeout of one webhook POST. Default 5.")
    audit_queue_size: int = Field(
        default=10000, ge=1, description="Records each target buffers; a full queue drops (and counts) the "
                                         "newest. Default 10000.")
    audit_batch_size: int = Field(
        default=100, ge=1, description="Records per write / POST at most. Default 100.")
    audit_flush_seconds: float = Field(
        default=1.0, gt=0, description="A partial batch is sent after this many seconds. Default 1.0.")
    audit_retry_max: int = Field(
        default=3, ge=0, description="Retries of a failed webhook batch before it is dropped (and counted). "
                                     "Default 3.")
    audit_retry_backoff_seconds: float = Field(
        default=0.5, gt=0, description="First retry delay; doubles each retry, at most 30 s. Default 0.5.")
    log_format: Literal["json", "text"] = Field(
        default="json", description="The engine's own log records on stderr: 'json' lines or 'text'. "
                                    "Default 'json'.")

    @field_validator("audit_webhook_url")
    @classmethod
    def _check_audit_webhook_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("audit_webhook_url must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _check_audit(self) -> EngineSettings:
        if self.audit_webhook_auth_token.get_secret_value() and self.audit_webhook_username:
            raise ValueError("audit_webhook_auth_token and audit_webhook_username exclude each other")
        if bool(self.audit_webhook_username) != bool(self.audit_webhook_password.get_secret_value()):
            raise ValueError("audit_webhook_username and audit_webhook_password: give both or neither")
        return self

    @property
    def region_is_explicit(self) -> bool:
        """True when ``region`` was given (RUSTFS_REGION, a flag, the component): then only it is accepted."""
        return "region" in self.model_fields_set

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        cidrs = [c.strip() for c in value.split(",") if c.strip()]
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {cidr!r} is not a CIDR (such as 10.0.0.0/8)") from None
        return ",".join(cidrs)

    @property
    def trusted_proxy_networks(self) -> tuple[str, ...]:
        return tuple(self.trusted_proxies.split(",")) if self.trusted_proxies else ()

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

    @field_validator("kms_secret_key")
    @classmethod
    def _check_kms_secret_key(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            parse_kms_secret_key(value.get_secret_value())
        return value

    @field_validator("kms_default_key_id")
    @classmethod
    def _check_kms_key_id(cls, value: str) -> str:
        if value and not _KMS_KEY_ID.match(value):
            raise ValueError(f"a KMS key id is letters, digits, '.', '_', '-' (at most 128), got {value!r}")
        return value

    @field_validator("kms_vault_address")
    @classmethod
    def _check_vault_address(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+/?$", value):
            raise ValueError(f"kms_vault_address must be http(s)://HOST[:PORT], got {value!r}")
        return value.rstrip("/")

    @field_validator("kms_vault_transit_mount", "kms_vault_auth_mount")
    @classmethod
    def _check_mount(cls, value: str) -> str:
        value = value.strip("/")
        if value and not re.match(r"^[A-Za-z0-9._/-]+$", value):
            raise ValueError(f"a Vault mount path is letters, digits, '.', '_', '-', '/', got {value!r}")
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _check_oidc_issuer(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^\s?#]+$", value):
            raise ValueError(f"oidc_issuer must be an http(s) URL, got {value!r}")
        return value

    @field_validator("ldap_server_url")
    @classmethod
    def _check_ldap_url(cls, value: str) -> str:
        if value and not re.fullmatch(r"ldaps?://[^/?#\s]+/?", value):
            raise ValueError(f"ldap_server_url must be ldap://host[:port] or ldaps://host[:port], got {value!r}")
        return value

    @field_validator("ldap_user_search_filter")
    @classmethod
    def _check_ldap_user_filter(cls, value: str) -> str:
        if value and "%s" not in value:
            raise ValueError("ldap_user_search_filter must contain %s (the username), e.g. '(uid=%s)'")
        return value

    @field_validator("ldap_group_search_filter")
    @classmethod
    def _check_ldap_group_filter(cls, value: str) -> str:
        if value and "%d" not in value and "%s" not in value:
            raise ValueError("ldap_group_search_filter must contain %d (the user's DN) or %s (the username)")
        return value

    @field_validator("tiers")
    @classmethod
    def _unique_tier_names(cls, value: list[PoolTierSpec | S3TierSpec]) -> list[PoolTierSpec | S3TierSpec]:
        names = [t.name for t in value]
        if len(set(names)) != len(names):
            raise ValueError("two tiers have the same name")
        for tier in value:
            if isinstance(tier, S3TierSpec) and not tier.has_credential_source:
                raise ValueError(f"tier {tier.name}: give its credentials: access_key_file and secret_key_file, "
                                 "or web_identity")
        return value

    @field_validator("lifecycle_defaults")
    @classmethod
    def _check_lifecycle_defaults(cls, value: dict[str, str]) -> dict[str, str]:
        for bucket, body in value.items():
            if not bucket or not body.strip():
                raise ValueError("each entry maps a bucket name (or '*') to a LifecycleConfiguration document")
        return value

    @field_validator("oidc_group_policies", "ldap_policies")
    @classmethod
    def _check_policy_map(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, names in value.items():
            if not key.strip() or not names or any(not n.strip() for n in names):
                raise ValueError(f"{key!r}: each entry maps a non-empty name to a non-empty list of policy names")
        return value

    @model_validator(mode="after")
    def _check_identity(self) -> EngineSettings:
        if self.oidc_issuer and not self.oidc_client_id:
            raise ValueError("oidc_issuer needs oidc_client_id (the audience tokens must carry)")
        if self.ldap_server_url:
            missing = [name for name in ("ldap_lookup_bind_dn", "ldap_user_search_base", "ldap_user_search_filter")
                       if not getattr(self, name)]
            if not self.ldap_lookup_bind_password.get_secret_value():
                missing.append("ldap_lookup_bind_password")
            if missing:
                raise ValueError(f"ldap_server_url needs {', '.join(missing)}")
            if self.ldap_start_tls and self.ldap_server_url.startswith("ldaps://"):
                raise ValueError("ldap_start_tls: not with an ldaps:// ldap_server_url (it is TLS already)")
            if bool(self.ldap_group_search_base) != bool(self.ldap_group_search_filter):
                raise ValueError("ldap_group_search_base and ldap_group_search_filter: give both or neither")
        return self

    @model_validator(mode="after")
    def _check_kms(self) -> EngineSettings:
        static_key = bool(self.kms_secret_key.get_secret_value())
        if static_key and self.kms_secret_key_file:
            raise ValueError("kms_secret_key and kms_secret_key_file exclude each other")
        if self.kms_backend == "vault" and (static_key or self.kms_secret_key_file):
            raise ValueError("kms_secret_key / kms_secret_key_file are for the static KMS, not kms_backend 'vault'")
        if static_key:
            key_id = parse_kms_secret_key(self.kms_secret_key.get_secret_value())[0]
            if self.kms_default_key_id and self.kms_default_key_id != key_id:
                raise ValueError(f"kms_default_key_id {self.kms_default_key_id!r} is not the id of "
                                 f"kms_secret_key ({key_id!r})")
        if self.kms_backend != "vault":
            return self
        if not self.kms_default_key_id:
            raise ValueError("kms_backend 'vault' needs kms_default_key_id (the transit key of SSE-S3)")
        auth = self.kms_vault_auth
        if auth == "token":
            token, token_file = bool(self.kms_vault_token.get_secret_value()), bool(self.kms_vault_token_file)
            if token == token_file:
                raise ValueError("kms_vault_auth 'token' needs exactly one of kms_vault_token and "
                                 "kms_vault_token_file")
        elif auth == "approle":
            if not self.kms_vault_approle_role_id or not self.kms_vault_approle_secret_id.get_secret_value():
                raise ValueError("kms_vault_auth 'approle' needs kms_vault_approle_role_id and "
                                 "kms_vault_approle_secret_id")
        elif not self.kms_vault_kubernetes_role:
            raise ValueError("kms_vault_auth 'kubernetes' needs kms_vault_kubernetes_role")
        return self

    @property
    def auto_encryption(self) -> bool:
        """kms_auto_encryption resolved: unset means on exactly when kms_backend is set explicitly."""
        if self.kms_auto_encryption is None:
            return self.kms_backend != ""
        return self.kms_auto_encryption

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
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif value is None:                   # unset: the engine's own default applies
            continue
        elif isinstance(value, (dict, list)):   # pydantic-settings parses complex settings from JSON
            value = json.dumps([v.model_dump(mode="json", exclude_none=True) if isinstance(v, BaseModel) else v
                                for v in value] if isinstance(value, list) else value, separators=(",", ":"))
        env[env_name(field)] = str(value)
    return env
