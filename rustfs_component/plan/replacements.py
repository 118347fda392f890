"""Which input changes make a provider replace a resource rather than update it: ONE table, per type token.

Keys are the type tokens the component registers (see `tests/component/snapshots/*.json`); values are the
input properties (camelCase wire names, `a.b` into an object) whose change forces a new resource
(`ForceNew: true` in the bridged Terraform provider's schema, "Changing this forces a new resource" in its
docs; the pulumi-kubernetes provider's own list for Kubernetes objects). The bridged SDKs ship no ForceNew
flags, so each entry cites where it was checked. `unconfirmed` marks entries taken from the provider
documentation without a source check here; treat a miss there as "may replace".

A resource whose URN changes without an alias is replaced too (the engine creates the new one and deletes the
old); `plan.diff` handles that, not this table. Providers are not in the table: a Kubernetes provider's
replacement is pulumi-kubernetes' own rule (`kubernetes_provider_replaces`), and a replaced provider replaces
every resource it manages (`plan.diff`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from rustfs_component.plan.render import REDACTED

# pulumi-kubernetes `provider/pkg/provider/forcenew.go` (forceNewJSONPaths): `.metadata.name` and
# `.metadata.namespace` of every kind, plus per kind below. StorageClass `reclaimPolicy`/`volumeBindingMode`:
# immutable in the API server (k8s `pkg/apis/storage/validation`: "updates to ... are forbidden"), so the
# provider's server-side-apply dry run fails and it replaces.
_K8S_METADATA = ("metadata.name", "metadata.namespace")
_K8S: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:StatefulSet": ("spec.podManagementPolicy", "spec.revisionHistoryLimit", "spec.selector",
                                       "spec.serviceName", "spec.volumeClaimTemplates"),
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:batch/v1:Job": ("spec.selector", "spec.template"),
    "kubernetes:core/v1:ConfigMap": ("binaryData", "data"),
    "kubernetes:core/v1:PersistentVolumeClaim": ("spec",),
    "kubernetes:core/v1:ResourceQuota": ("spec.scopes",),
    # Secret data too: pulumi-kubernetes replaces a Secret on a data change unless `enableSecretMutable`.
    "kubernetes:core/v1:Secret": ("type", "stringData", "data"),
    "kubernetes:core/v1:Service": ("spec.clusterIP", "spec.type"),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": (),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": ("roleRef",),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": ("roleRef",),
    "kubernetes:storage.k8s.io/v1:StorageClass": ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"),
    "kubernetes:core/v1:Namespace": (),
    "kubernetes:core/v1:ServiceAccount": (),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": (),
    "kubernetes:policy/v1:PodDisruptionBudget": (),  # policy/v1beta1 only: `.spec`
    "kubernetes:networking.k8s.io/v1:Ingress": (),
    "kubernetes:gateway.networking.k8s.io/v1:Gateway": (),
    "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute": (),
    "kubernetes:gateway.networking.k8s.io/v1beta1:ReferenceGrant": (),
    # Custom resources: the metadata rule only (a CRD's own immutable fields fail the apply; none known here).
    "kubernetes:cluster.x-k8s.io/v1beta1:Cluster": (),
    "kubernetes:run.tanzu.vmware.com/v1alpha3:TanzuKubernetesCluster": (),
    "kubernetes:cert-manager.io/v1:Certificate": (),
    "kubernetes:cert-manager.io/v1:ClusterIssuer": (),
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": (),
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule": (),
    # helm_release.go Diff: a changed release `name` or `namespace` is a new release (taken as replacing: unconfirmed).
    "kubernetes:helm.sh/v3:Release": ("name", "namespace"),
}

FORCE_NEW: dict[str, tuple[str, ...]] = {
    # terraform-provider-aws internal/service/eks/node_group.go (ForceNew), ../shared/PLATFORM-NOTES.md §4;
    # in place: scalingConfig, labels, taints, version, launchTemplate.version, updateConfig, tags.
    "aws:eks/nodeGroup:NodeGroup": ("amiType", "capacityType", "clusterName", "diskSize", "instanceTypes",
                                    "nodeGroupName", "nodeGroupNamePrefix", "nodeRoleArn", "remoteAccess",
                                    "subnetIds", "launchTemplate.id", "launchTemplate.name"),
    # internal/service/eks/cluster.go: name, role_arn, kubernetes_network_config.{service_ipv4_cidr,ip_family},
    # bootstrap_self_managed_addons, outpost_config, access_config.bootstrap_cluster_creator_admin_permissions
    # (vpc_config.subnet_ids in place since TF AWS 5.25; encryption_config replaces only when removed).
    "aws:eks/cluster:Cluster": ("name", "roleArn", "kubernetesNetworkConfig.serviceIpv4Cidr",
                                "kubernetesNetworkConfig.ipFamily", "bootstrapSelfManagedAddons", "outpostConfig",
                                "accessConfig.bootstrapClusterCreatorAdminPermissions"),
    "aws:eks/addon:Addon": ("clusterName", "addonName"),                       # eks/addon.go
    "aws:eks/accessEntry:AccessEntry": ("clusterName", "principalArn", "type"),  # eks/access_entry.go
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": ("clusterName", "principalArn", "policyArn",
                                                                "accessScope"),  # every argument ForceNew
    # internal/service/ec2/vpc_subnet.go, vpc_.go, vpc_nat_gateway.go, vpc_route_table(_association).go, ec2_eip.go
    "aws:ec2/subnet:Subnet": ("availabilityZone", "availabilityZoneId", "cidrBlock", "vpcId", "outpostArn"),
    "aws:ec2/vpc:Vpc": ("cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength"),
    "aws:ec2/natGateway:NatGateway": ("allocationId", "subnetId", "connectivityType", "privateIp"),
    "aws:ec2/routeTable:RouteTable": ("vpcId",),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("subnetId", "gatewayId"),
    "aws:ec2/eip:Eip": ("domain", "address", "customerOwnedIpv4Pool", "networkBorderGroup", "publicIpv4Pool"),
    "aws:ec2/internetGateway:InternetGateway": (),  # vpc_id detaches/attaches in place
    # vpc_security_group.go (inline ingress/egress rules update in place), vpc_endpoint.go
    "aws:ec2/securityGroup:SecurityGroup": ("name", "namePrefix", "description", "vpcId"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("serviceName", "vpcId", "vpcEndpointType", "serviceRegion"),
    # internal/service/iam/role.go, role_policy.go, role_policy_attachment.go, openid_connect_provider.go
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
    "aws:iam/rolePolicy:RolePolicy": ("name", "namePrefix", "role"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("role", "policyArn"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ("url",),
    # internal/service/kms/key.go (policy, rotation, description update in place), alias.go (target_key_id too)
    "aws:kms/key:Key": ("customKeyStoreId", "customerMasterKeySpec", "keyUsage", "multiRegion", "xksKeyId"),
    "aws:kms/alias:Alias": ("name", "namePrefix"),
    # internal/service/s3/bucket*.go
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ("bucket", "expectedBucketOwner"),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("bucket",),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "bucket", "expectedBucketOwner"),
    # terraform-provider-alicloud website/docs/r/*.html.markdown ("Changing this forces a new resource"); unconfirmed
    # beyond the docs for the cluster's network fields.
    "alicloud:cs/managedKubernetes:ManagedKubernetes": ("podCidr", "serviceCidr", "nodeCidrMask", "proxyMode",
                                                        "clusterDomain", "ipStack", "newNatGateway", "podVswitchIds",
                                                        "isEnterpriseSecurityGroup", "securityGroupId", "zoneIds"),
    "alicloud:cs/nodePool:NodePool": ("clusterId",),  # instance types, vswitches, disks update in place
    "alicloud:vpc/network:Network": ("ipv6Isp", "enableIpv6"),  # cidr_block updatable (ModifyVpcAttribute)
    "alicloud:vpc/switch:Switch": ("vpcId", "cidrBlock", "zoneId"),
    "alicloud:oss/bucket:Bucket": ("bucket", "storageClass", "redundancyType"),
    # alicloud/resource_alicloud_oss_bucket_archive_direct_read.go: bucket ForceNew, enabled updatable.
    "alicloud:oss/bucketArchiveDirectRead:BucketArchiveDirectRead": ("bucket",),
    "alicloud:ram/user:User": (),  # name updatable (UpdateUser)
    "alicloud:ram/policy:Policy": ("policyName", "name"),
    "alicloud:ram/userPolicyAttachment:UserPolicyAttachment": ("userName", "policyName", "policyType"),
    "alicloud:ram/accessKey:AccessKey": ("userName", "secretFile", "pgpKey"),
    # alicloud/resource_alicloud_kms_alias.go (alias_name ForceNew, key_id updatable); the key per its docs.
    "alicloud:kms/key:Key": ("keySpec", "keyUsage", "origin", "protectionLevel", "dkmsInstanceId"),
    "alicloud:kms/alias:Alias": ("aliasName",),
    # terraform-provider-tencentcloud tencentcloud/services/*/resource_tc_*.go (ForceNew) and
    # website/docs/r/*.html.markdown; `network_type` per ../shared/PLATFORM-NOTES.md §1.
    "tencentcloud:Kubernetes/cluster:Cluster": ("vpcId", "clusterCidr", "serviceCidr", "networkType",
                                                "clusterDeployType", "clusterMaxPodNum", "clusterMaxServiceNum",
                                                "eniSubnetIds", "clusterIpvs", "containerRuntime", "workerConfigs"),
    # website/docs/r/kubernetes_node_pool.html.markdown: subnet_ids, auto_scaling_config.instance_type ForceNew.
    "tencentcloud:Kubernetes/nodePool:NodePool": ("clusterId", "vpcId", "retryPolicy", "scalingMode", "subnetIds",
                                                  "unschedulable", "autoScalingConfig.instanceType",
                                                  "autoScalingConfig.enhancedMonitorService",
                                                  "autoScalingConfig.camRoleName", "autoScalingConfig.keyIds",
                                                  "autoScalingConfig.password"),
    "tencentcloud:Kubernetes/addon:Addon": ("clusterId", "addonName"),
    "tencentcloud:Kubernetes/clusterEndpoint:ClusterEndpoint": ("clusterId",),
    "tencentcloud:Vpc/instance:Instance": ("cidrBlock",),
    "tencentcloud:Subnet/instance:Instance": ("vpcId", "cidrBlock", "availabilityZone"),
    "tencentcloud:Nat/gateway:Gateway": ("vpcId", "subnetId", "zone"),
    "tencentcloud:Eip/instance:Instance": ("type", "anycastZone", "applicableForClb", "internetServiceProvider"),
    "tencentcloud:Route/tableEntry:TableEntry": ("routeTableId", "destinationCidrBlock", "nextType", "nextHub"),
    "tencentcloud:Security/group:Group": ("projectId",),
    "tencentcloud:Security/groupRuleSet:GroupRuleSet": ("securityGroupId",),
    "tencentcloud:Cos/bucket:Bucket": ("bucket", "multiAz"),
    "tencentcloud:Cam/user:User": ("name",),
    "tencentcloud:Cam/policy:Policy": ("name",),
    "tencentcloud:Cam/userPolicyAttachment:UserPolicyAttachment": ("userName", "policyId"),
    # pulumi-random: every argument of a random value replaces it (RequiresReplace on each attribute).
    "random:index/randomPassword:RandomPassword": ("*",),
    "random:index/randomString:RandomString": ("*",),
    **{token: _K8S_METADATA + fields for token, fields in _K8S.items()},
}


def force_new_fields(type_: str, changed_inputs: list[str]) -> list[str]:
    """The force-new properties of `type_` that the changed input paths (`a.b[0].c`) touch, in table order.

    Unknown Kubernetes kinds get the metadata rule; other unknown types none (an update, as far as we know)."""
    fields = FORCE_NEW.get(type_)
    if fields is None:
        fields = _K8S_METADATA if type_.startswith("kubernetes:") else ()
    hit: list[str] = []
    for field in fields:
        for path in changed_inputs:
            if field == "*" or path == field or path.startswith((f"{field}.", f"{field}[")):
                hit.append(field)
                break
    return hit


K8S_PROVIDER = "pulumi:providers:kubernetes"
_CLUSTER_KEYS = ("kubeconfig", "context", "cluster")


@dataclass(frozen=True)
class ProviderDiff:
    """What pulumi-kubernetes' `DiffConfig` decides for a provider: the inputs that replace it, and whether the
    decision hangs on a kubeconfig the plan redacts (`hidden`: nothing visibly replaces it, but the real
    kubeconfigs may point at different clusters)."""

    replaces: tuple[str, ...] = ()
    hidden: bool = False


def kubernetes_provider_replaces(old: dict[str, Any], new: dict[str, Any]) -> ProviderDiff:
    """pulumi-kubernetes `provider/pkg/provider/provider.go` `DiffConfig`, on two plans' provider inputs.

    - `clusterIdentifier` changed (set before and after): replace. Unchanged and set: never replace, whatever
      else changed (the kubeconfig's endpoint, CA, token; even a kubeconfig unknown at preview). Added or
      removed: no replacement by itself ("to make on- and off-boarding less risky"), the rules below decide.
    - `renderYamlToDirectory` changed: replace.
    - Otherwise the kubeconfig's active cluster (its `current-context`, or the `context` input, and that
      context's cluster, or the `cluster` input: the whole `clusters[].cluster` entry: server, CA, TLS name,
      proxy) is compared; when both are found and differ, the changed ones of kubeconfig/context/cluster
      replace. No kubeconfig input (the ambient one) finds no cluster: a `context` change then replaces nothing.
    """
    olds = {k: v for k, v in old.items() if v is not None}  # SkipNulls
    news = {k: v for k, v in new.items() if v is not None}
    changed = {k for k in set(olds) | set(news) if olds.get(k) != news.get(k)}
    ident = "clusterIdentifier"
    if ident in olds and ident in news and ident not in changed:
        return ProviderDiff()
    replaces = [ident] if ident in olds and ident in news and ident in changed else []
    if "renderYamlToDirectory" in changed:
        replaces.append("renderYamlToDirectory")
    if REDACTED in (olds.get("kubeconfig"), news.get("kubeconfig")):
        # One side is hidden; a cluster is found only where a kubeconfig is given at all.
        hidden = "kubeconfig" in olds and "kubeconfig" in news
        return ProviderDiff(tuple(replaces), hidden=hidden and not replaces)
    before, after = _active_cluster(olds), _active_cluster(news)
    if before is not None and after is not None and before != after:
        replaces += [key for key in _CLUSTER_KEYS if key in changed]
    return ProviderDiff(tuple(replaces))


def _active_cluster(inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The `cluster` entry the provider would talk to (client-go's kubeconfig resolution with the provider's
    `context`/`cluster` overrides), or None when the kubeconfig is absent, unparsable or names none."""
    config = inputs.get("kubeconfig")
    if isinstance(config, str):
        try:
            config = yaml.safe_load(config)
        except yaml.YAMLError:
            return None
    if not isinstance(config, dict) or not config.get("clusters"):
        return None

    def named(section: str, name: Any) -> dict[str, Any] | None:
        for entry in config.get(section) or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                inner = entry.get(section.removesuffix("s"))
                return inner if isinstance(inner, dict) else None
        return None

    context = named("contexts", inputs.get("context", config.get("current-context")))
    if context is None:
        return None
    return named("clusters", inputs.get("cluster", context.get("cluster")))
