"""Pulumi mocks that record every registration (URN, parent, provider, inputs) and fake cloud outputs.

The real program and the real provider SDKs run; only the engine's gRPC monitor is replaced. Outputs
that the program reads back (cluster endpoints, generated passwords, kubeconfigs) are derived from the
resource's URN with a hash, so every render is byte-for-byte the same.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pulumi.runtime import Mocks, rpc
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


class PlanMocks(Mocks):
    """Returns inputs as state, plus the computed outputs this program reads."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        name, typ = args.name, args.typ
        resource_id = args.resource_id or f"{name}-{_digest(typ, name, length=8)}"
        token = typ.split(":")[-1]
        if typ == "aws:eks/cluster:Cluster":
            region = "offline-1"
            state.update(
                endpoint=f"https://{_digest(name, length=32).upper()}.gr7.{region}.eks.amazonaws.com",
                certificateAuthority={"data": base64.b64encode(f"offline CA of {name}".encode()).decode()},
                identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{_digest(name, length=32).upper()}"}]}],
                arn=f"arn:aws:eks:{region}:{FAKE_ACCOUNT}:cluster/{state.get('name', name)}")
        elif typ.startswith("aws:iam/") or typ.startswith("aws:eks/"):
            state.setdefault("name", name)
            state["arn"] = f"arn:aws:iam::{FAKE_ACCOUNT}:{token.lower()}/{state.get('name', name)}"
        elif typ == "aws:s3/bucket:Bucket":
            bucket = f"{state.get('bucketPrefix', name)}{_digest(name, length=12)}"
            state.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
        elif typ == "random:index/randomString:RandomString":
            state["result"] = _digest("random", name, length=int(state.get("length", 20))).upper()
        elif typ == "random:index/randomPassword:RandomPassword":
            state["result"] = _digest("random", name, length=int(state.get("length", 40)))
        elif typ == "alicloud:oss/bucket:Bucket":
            state.setdefault("bucket", f"{name}-{_digest(name, length=8)}")
        elif typ == "alicloud:ram/accessKey:AccessKey":
            resource_id = "LTAI" + _digest(name, length=20).upper()
            state["secret"] = _digest("secret", name, length=30)
        elif typ == "tencentcloud:cam/user:User":
            state.update(secretId="AKID" + _digest(name, length=32).upper(), secretKey=_digest("secret", name, length=32))
        elif typ == "tencentcloud:kubernetes/clusterEndpoint:ClusterEndpoint":
            state["kubeConfig"] = fake_kubeconfig(name)
        elif typ == "tencentcloud:vpc/instance:Instance":
            state["defaultRouteTableId"] = f"rtb-{_digest(name, length=8)}"
        elif typ == "tencentcloud:eip/instance:Instance":
            state["publicIp"] = "203.0.113.10"
        elif typ == "kubernetes:core/v1:Secret" and args.resource_id:
            # A read of the `<cluster>-kubeconfig` Secret the Tanzu Supervisor writes.
            cluster = args.name.removesuffix("-kubeconfig")
            state = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": args.name},
                     "data": {"value": base64.b64encode(fake_kubeconfig(cluster).encode()).decode()}}
        return resource_id, state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "alicloud:cs/getClusterCredential:getClusterCredential":
            cluster_id = str(args.args.get("clusterId", "cluster"))
            return {"clusterId": cluster_id, "kubeConfig": fake_kubeconfig(cluster_id), "id": cluster_id}, []
        return {}, []


class RecordingMonitor(MockMonitor):
    """A MockMonitor that also keeps what `MockResourceArgs` leaves out: parent, provider and URN."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def _record(self, request: Any, urn: str, properties: Any, read_id: str, custom: bool) -> None:
        self.registrations.append(Registration(
            urn=urn, type=request.type, name=request.name, parent=request.parent,
            # A provider reference is "<urn>::<id>"; the URN alone is stable across renders.
            provider=request.provider.rsplit("::", 1)[0] if request.provider else "",
            custom=custom, read_id=read_id, inputs=rpc.deserialize_properties(properties)))

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self._record(request, response.urn, request.object, "", bool(request.custom))
        return response

    def ReadResource(self, request: Any) -> Any:
        response = super().ReadResource(request)
        self._record(request, response.urn, request.properties, request.id, True)
        return response
