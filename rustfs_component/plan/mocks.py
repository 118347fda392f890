"""Pulumi mocks that record every registration (URN, parent, provider, inputs) and fake cloud outputs.

The real program and the real provider SDKs run; only the engine's gRPC monitor is replaced. Outputs
that the program reads back (cluster endpoints, generated passwords, kubeconfigs) are derived from the
resource's URN with a hash, so every render is byte-for-byte the same.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from pulumi.runtime import Mocks, rpc
from pulumi.runtime.settings import get_project, get_stack
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs

FAKE_ACCOUNT = "123456789012"


@dataclass
class Registration:
    """One resource as the program registered it; `inputs` still hold Pulumi's secret markers."""

    urn: str
    type: str
    name: str
    parent: str
    provider: str
    custom: bool
    read_id: str
    inputs: dict[str, Any]
    # What the (mock) provider returned, as the program saw it: `id` plus the state (inputs and outputs).
    outputs: dict[str, Any] = field(default_factory=dict)
    # URNs of the resources this one was declared to depend on (`depends_on`, and those its inputs came from).
    dependencies: list[str] = field(default_factory=list)
    # URNs this resource was known by before (`opts.aliases`, and its children's under a parent's aliases).
    aliases: list[str] = field(default_factory=list)


def _digest(*parts: str, length: int = 40) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def fake_kubeconfig(cluster: str) -> str:
    """A syntactically valid kubeconfig for a cluster that does not exist."""
    ca = base64.b64encode(f"offline CA of {cluster}".encode()).decode()
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": cluster, "preferences": {},
        "clusters": [{"name": cluster, "cluster": {"server": f"https://{cluster}.offline.invalid:6443",
                                                     "certificate-authority-data": ca}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
        "users": [{"name": cluster, "user": {"token": f"offline-{_digest(cluster, length=16)}"}}],
    }, sort_keys=True)


REGION = "offline-1"
OutputsOf = Callable[[str, dict[str, Any]], dict[str, Any]]


def _aws_name(name: str, state: dict[str, Any], key: str = "name") -> str:
    """The physical name the AWS provider gives when the program sets none: `<logical name>-<7 hex>`,
    or `<prefix><26 digits>` for a `...Prefix` argument."""
    if state.get(key):
        return str(state[key])
    prefix_key = f"{key}Prefix"
    if state.get(prefix_key):
        return f"{state[prefix_key]}{int(_digest(prefix_key, name, length=20), 16) % 10**26:026d}"
    return f"{name}-{_digest(key, name, length=7)}"


def _eks_cluster(name: str, state: dict[str, Any]) -> dict[str, Any]:
    cluster = _aws_name(name, state)
    return {"name": cluster,
            "endpoint": f"https://{_digest(name, length=32).upper()}.gr7.{REGION}.eks.amazonaws.com",
            "certificateAuthority": {"data": base64.b64encode(f"offline CA of {name}".encode()).decode()},
            "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{REGION}.amazonaws.com/id/{_digest(name, length=32).upper()}"}]}],
            "arn": f"arn:aws:eks:{REGION}:{FAKE_ACCOUNT}:cluster/{cluster}", "status": "ACTIVE",
            "createdAt": "2024-01-01T00:00:00Z"}


def _eks_node_group(name: str, state: dict[str, Any]) -> dict[str, Any]:
    group = _aws_name(name, state, "nodeGroupName")
    return {"nodeGroupName": group, "status": "ACTIVE",
            "arn": f"arn:aws:eks:{REGION}:{FAKE_ACCOUNT}:nodegroup/{state.get('clusterName', '')}/{group}/{_digest(name, length=8)}"}


def _iam(kind: str) -> OutputsOf:
    def outputs(name: str, state: dict[str, Any]) -> dict[str, Any]:
        physical = _aws_name(name, state)
        return {"name": physical, "arn": f"arn:aws:iam::{FAKE_ACCOUNT}:{kind}/{physical}"}
    return outputs


def _oidc_provider(name: str, state: dict[str, Any]) -> dict[str, Any]:
    host = str(state.get("url", "")).removeprefix("https://")
    return {"arn": f"arn:aws:iam::{FAKE_ACCOUNT}:oidc-provider/{host}"}


def _s3_bucket(name: str, state: dict[str, Any]) -> dict[str, Any]:
    bucket = state.get("bucket") or f"{state.get('bucketPrefix', name)}{_digest(name, length=12)}"
    return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}", "region": REGION,
            "bucketDomainName": f"{bucket}.s3.amazonaws.com"}


def _uuid(name: str) -> str:
    digest = _digest("uuid", name, length=32)
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


def _random(default_length: int, upper: bool) -> OutputsOf:
    def outputs(name: str, state: dict[str, Any]) -> dict[str, Any]:
        result = _digest("random", name, length=int(state.get("length", default_length)))
        return {"result": result.upper() if upper else result}
    return outputs


# Outputs each provider computes, by exact type token (what the SDK passes to `Resource.__init__`).
# Only what the real provider returns and this program may read; inputs are echoed back as state.
OUTPUTS: dict[str, OutputsOf] = {
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _eks_node_group,
    "aws:eks/addon:Addon": lambda name, s: {
        "arn": f"arn:aws:eks:{REGION}:{FAKE_ACCOUNT}:addon/{s.get('clusterName', '')}/{s.get('addonName', name)}/{_digest(name, length=8)}"},
    "aws:eks/accessEntry:AccessEntry": lambda name, s: {
        "accessEntryArn": f"arn:aws:eks:{REGION}:{FAKE_ACCOUNT}:access-entry/{s.get('clusterName', '')}/{_digest(name, length=8)}"},
    "aws:iam/role:Role": _iam("role"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc_provider,
    "aws:ec2/vpc:Vpc": lambda name, s: {"arn": f"arn:aws:ec2:{REGION}:{FAKE_ACCOUNT}:vpc/vpc-{_digest(name, length=17)}",
                                        "defaultRouteTableId": f"rtb-{_digest('rtb', name, length=17)}"},
    "aws:ec2/eip:Eip": lambda name, s: {"publicIp": "198.51.100.10", "allocationId": f"eipalloc-{_digest(name, length=17)}"},
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:kms/key:Key": lambda name, s: {"keyId": _uuid(name),
                                        "arn": f"arn:aws:kms:{REGION}:{FAKE_ACCOUNT}:key/{_uuid(name)}"},
    "random:index/randomString:RandomString": _random(20, upper=True),
    "random:index/randomPassword:RandomPassword": _random(40, upper=False),
    "alicloud:oss/bucket:Bucket": lambda name, s: {"bucket": s.get("bucket") or f"{name}-{_digest(name, length=8)}"},
    "alicloud:ram/accessKey:AccessKey": lambda name, s: {"secret": _digest("secret", name, length=30), "status": "Active"},
    "tencentcloud:Cam/user:User": lambda name, s: {
        "secretId": "AKID" + _digest(name, length=32).upper(), "secretKey": _digest("secret", name, length=32),
        "uin": int(_digest("uin", name, length=10), 16) % 10**10},
    "tencentcloud:Kubernetes/clusterEndpoint:ClusterEndpoint": lambda name, s: {
        "kubeConfig": fake_kubeconfig(name), "kubeConfigIntranet": fake_kubeconfig(f"{name}-intranet")},
    "tencentcloud:Vpc/instance:Instance": lambda name, s: {"defaultRouteTableId": f"rtb-{_digest(name, length=8)}"},
    "tencentcloud:Eip/instance:Instance": lambda name, s: {"publicIp": "203.0.113.10"},
}

# Resource IDs that are not the default `<name>-<hash>`: where the program reads `.id` as a credential.
IDS: dict[str, Callable[[str], str]] = {
    "alicloud:ram/accessKey:AccessKey": lambda name: "LTAI" + _digest(name, length=20).upper(),
}


class PlanMocks(Mocks):
    """Returns inputs as state, plus the outputs the real provider computes (`OUTPUTS`)."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        name, typ = args.name, args.typ
        if typ == "kubernetes:core/v1:Secret" and args.resource_id:
            # A read of the `<cluster>-kubeconfig` Secret the Tanzu Supervisor writes.
            cluster = name.removesuffix("-kubeconfig")
            return args.resource_id, {
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                "data": {"value": base64.b64encode(fake_kubeconfig(cluster).encode()).decode()}}
        make_id = IDS.get(typ)
        resource_id = args.resource_id or (make_id(name) if make_id else f"{name}-{_digest(typ, name, length=8)}")
        outputs = OUTPUTS.get(typ)
        if outputs is not None:
            state.update(outputs(name, state))
        return resource_id, state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "alicloud:cs/getClusterCredential:getClusterCredential":
            cluster_id = str(args.args.get("clusterId", "cluster"))
            return {"clusterId": cluster_id, "kubeConfig": fake_kubeconfig(cluster_id), "id": cluster_id}, []
        if args.token == "aws:ec2/getManagedPrefixList:getManagedPrefixList":  # the S3 list's shape, documentation CIDRs
            name = str(args.args.get("name", "prefix-list"))
            return {"id": f"pl-{_digest(name, length=8)}", "name": name, "addressFamily": "IPv4",
                    "entries": [{"cidr": "198.51.100.0/24", "description": ""},
                                {"cidr": "203.0.113.0/24", "description": ""}]}, []
        return {}, []


ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def make_urn(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    """The URN the Pulumi engine gives: `urn:pulumi:<stack>::<project>::<qualified type>::<name>`, where the
    qualified type is the parent's qualified type, `$`, then the type; the root Stack is left out of the chain
    (Go SDK `resource/urn.New`: `if parentType != "" && parentType != tokens.RootStackType`)."""
    if parent:
        parent_type = parent.split("::")[2]
        if parent_type != ROOT_STACK_TYPE:
            type_ = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


class RecordingMonitor(MockMonitor):
    """A MockMonitor that also keeps what `MockResourceArgs` leaves out: parent, provider, aliases, and the
    URN the engine would give (Pulumi's MockMonitor keeps only the parent's last type in the chain)."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self._aliases: dict[str, list[str]] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return make_urn(get_stack(), get_project(), parent, type_, name)

    def _alias_urns(self, request: Any, urn: str) -> list[str]:
        """The URNs this resource had before (the program's `opts.aliases`), and those it has under its parent's
        aliases, as the engine matches them to old state."""
        stack, project = get_stack(), get_project()
        found: list[str] = []
        for alias in getattr(request, "aliases", []):
            if alias.urn:
                found.append(alias.urn)
                continue
            spec = alias.spec
            if request.custom and not (spec.name or spec.parentUrn or spec.noParent or spec.stack or spec.project):
                continue  # a provider SDK's own type aliases (Kubernetes API versions, renamed types): not the program's
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            found.append(make_urn(spec.stack or stack, spec.project or project, parent,
                                  spec.type or request.type, spec.name or request.name))
        found += list(getattr(request, "aliasURNs", []))
        for parent_alias in self._aliases.get(request.parent, []):
            found.append(make_urn(stack, project, parent_alias, request.type, request.name))
        unique = sorted({a for a in found if a != urn})
        self._aliases[urn] = unique
        return unique

    def _record(self, request: Any, urn: str, properties: Any, read_id: str, custom: bool) -> None:
        registered = self.resources.get(urn)
        self.registrations.append(Registration(
            urn=urn, type=request.type, name=request.name, parent=request.parent,
            # A provider reference is "<urn>::<id>"; the URN alone is stable across renders.
            provider=request.provider.rsplit("::", 1)[0] if request.provider else "",
            custom=custom, read_id=read_id, inputs=rpc.deserialize_properties(properties),
            outputs={"id": registered.id, **registered.state} if registered else {},
            dependencies=list(getattr(request, "dependencies", [])),
            aliases=self._alias_urns(request, urn)))

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != ROOT_STACK_TYPE:
            self._record(request, response.urn, request.object, "", bool(request.custom))
        return response

    def ReadResource(self, request: Any) -> Any:
        response = super().ReadResource(request)
        self._record(request, response.urn, request.properties, request.id, True)
        return response
