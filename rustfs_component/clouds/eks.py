"""Amazon EKS with pulumi-aws directly: VPC, IAM, cluster (API auth + access entries), node groups, EBS CSI;
EBS StorageClasses; an S3 cold tier with an IRSA role per tenant.

pulumi-eks is not used: its resources live in a plugin, so its children cannot be checked offline.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from rustfs_component.clouds.base import (TIER_NODE_LABEL, ClusterHandle, ColdTierAccess, ControllerIdentity,
                                          TenantIdentity, cloud_provider, kubernetes_provider, render_kubeconfig)
from rustfs_component.clouds.network import carve
from rustfs_component.config.ingress import IngressConfig
from rustfs_component.config import EbsTier, EksCluster, S3ColdTier

EBS_CSI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:ebs-csi-controller-sa"
# The AWS Load Balancer Controller's IAM policy, as its docs give it (docs/install/iam_policy.json of
# https://github.com/kubernetes-sigs/aws-load-balancer-controller, the v2.14+/v3.x statement set the pinned chart
# 3.5.0, app v3.5.0, needs: https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/installation/).
# Written with `arn:aws:`; `load_balancer_controller_policy` swaps in the region's partition (aws-cn, aws-us-gov).
LBC_POLICY_FILE = "aws_lbc_policy.json"


def partition(region: str) -> str:
    """The ARN partition of a region (China and GovCloud differ)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _service_role_policy(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def route53_dns01_policy(arn_partition: str, hosted_zone_id: str) -> str:
    """cert-manager's DNS-01 permissions in Route53 (cert-manager.io/docs/configuration/acme/dns01/route53, "Set up
    an IAM Policy"): GetChange on changes, TXT records only in the one hosted zone, and ListHostedZonesByName."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "route53:GetChange", "Resource": f"arn:{arn_partition}:route53:::change/*"},
        {"Effect": "Allow", "Action": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
         "Resource": f"arn:{arn_partition}:route53:::hostedzone/{hosted_zone_id}",
         "Condition": {"ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}}},
        {"Effect": "Allow", "Action": "route53:ListHostedZonesByName", "Resource": "*"}]})


def vault_unseal_policy(key_arn: str) -> str:
    """Vault's awskms seal needs Encrypt, Decrypt and DescribeKey, on its one key only."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"], "Resource": key_arn}]})


def load_balancer_controller_policy(arn_partition: str) -> str:
    """The AWS Load Balancer Controller's policy (LBC_POLICY_FILE) in `arn_partition`, compact (an inline policy
    counts its characters)."""
    text = importlib.resources.files("rustfs_component.clouds").joinpath(LBC_POLICY_FILE).read_text()
    policy = json.loads(text.replace('"arn:aws:', f'"arn:{arn_partition}:'))
    return json.dumps(policy, separators=(",", ":"))


def irsa_trust_policy(oidc_arn: str, issuer_url: str, subjects: list[str]) -> str:
    """Trust policy letting exactly `subjects` (service accounts) assume a role through the cluster's OIDC."""
    issuer = issuer_url.removeprefix("https://")
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": oidc_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer}:aud": "sts.amazonaws.com", f"{issuer}:sub": subjects}},
    }]})


@dataclass(frozen=True, kw_only=True)
class EksClusterHandle(ClusterHandle):
    """The EKS handle also carries the cluster's OIDC provider: the cold tier's IRSA roles trust it."""

    oidc_provider: aws.iam.OpenIdConnectProvider
    cold_tier_egress_cidrs: pulumi.Output[list[str]] | None = None
    cluster_name: pulumi.Input[str] = ""
    vpc_id: pulumi.Input[str] = ""

    def controller_identity(self, name: str, controller: str, *, namespace: str, service_account: str,
                            opts: pulumi.ResourceOptions, **settings: str) -> ControllerIdentity:
        """An IRSA role `name` trusted by exactly `system:serviceaccount:<namespace>:<service_account>`, with the
        controller's policy inline: 'cert-manager-route53' (`hosted_zone_id=`; settings: region) or
        'aws-load-balancer-controller' (settings: clusterName, region, vpcId). The annotation's ARN resolves only
        once the policy is attached, so the controller never starts without its permissions."""
        arn_partition = partition(self.region)
        facts: dict[str, pulumi.Input[str]]
        child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=self.cloud_provider))
        policy: pulumi.Input[str]
        if controller == "vault-unseal":  # seal "awskms": a key of its own, and only this key's use
            key = aws.kms.Key(f"{name}-key", description=f"Vault auto-unseal ({name})", enable_key_rotation=True,
                              deletion_window_in_days=30, opts=child)
            aws.kms.Alias(f"{name}-key", name=f"alias/{name}", target_key_id=key.key_id, opts=child)
            policy = key.arn.apply(lambda arn: vault_unseal_policy(arn or ""))
            facts = {"region": self.region, "kms_key_id": key.key_id}
        elif controller == "cert-manager-route53":
            policy = route53_dns01_policy(arn_partition, settings["hosted_zone_id"])
            facts = {"region": self.region}
        elif controller == "aws-load-balancer-controller":
            policy = load_balancer_controller_policy(arn_partition)
            facts = {"clusterName": self.cluster_name, "region": self.region, "vpcId": self.vpc_id}
        else:
            raise ValueError(f"{controller}: no IAM policy known for this controller")
        subject = f"system:serviceaccount:{namespace}:{service_account}"
        oidc = self.oidc_provider
        role = aws.iam.Role(name, assume_role_policy=pulumi.Output.all(oidc.arn, oidc.url).apply(
            lambda a: irsa_trust_policy(a[0], a[1], [subject])), opts=child)
        attached = aws.iam.RolePolicy(name, role=role.id, policy=policy, opts=child)
        role_arn = pulumi.Output.all(role.arn, attached.id).apply(lambda a: a[0])
        return ControllerIdentity(service_account_annotations={"eks.amazonaws.com/role-arn": role_arn},
                                  settings=facts)


class EksClusterResource(pulumi.ComponentResource):
    """An EKS cluster and everything it needs; exposes `handle`, `aws_provider` and the OIDC provider.

    `aws_provider` is the caller's when an `aws` provider reaches this component (`opts.provider`/`providers`
    of the platform or an ancestor: an assume-role provider, another account); only otherwise does the
    component create its own (region and profile from the config, default tags).
    """

    handle: EksClusterHandle
    aws_provider: pulumi.ProviderResource
    oidc_provider: aws.iam.OpenIdConnectProvider
    cluster: aws.eks.Cluster
    vpc_id: pulumi.Output[str]

    def __init__(self, name: str, config: EksCluster, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rustfs:eks:Cluster", name, None, opts)
        self.aws_provider = cloud_provider(self, "aws", lambda: aws.Provider(
            f"{name}-aws", region=config.region, profile=config.profile,
            default_tags={"tags": {"rustfs.io/platform": name, "managed-by": "pulumi"}},
            opts=pulumi.ResourceOptions(parent=self)))
        child = pulumi.ResourceOptions(parent=self, provider=self.aws_provider)
        arn = partition(config.region)
        private_subnets, public_subnets = self._network(name, config, child)

        cluster_role = aws.iam.Role(f"{name}-cluster-role", assume_role_policy=_service_role_policy("eks.amazonaws.com"), opts=child)
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy", role=cluster_role.name,
            policy_arn=f"arn:{arn}:iam::aws:policy/AmazonEKSClusterPolicy", opts=child)
        self.cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=name,
            version=config.kubernetes_version,
            role_arn=cluster_role.arn,
            # API mode: access entries, never the shared aws-auth ConfigMap (which others edit too).
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            vpc_config={"subnet_ids": private_subnets + public_subnets,
                        "endpoint_private_access": True,
                        "endpoint_public_access": config.endpoint_public_access,
                        "public_access_cidrs": config.public_access_cidrs},
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[cluster_policy])))

        for index, principal in enumerate(config.admin_principal_arns):
            entry = aws.eks.AccessEntry(f"{name}-admin-{index}", cluster_name=self.cluster.name,
                                        principal_arn=principal, type="STANDARD", opts=child)
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{index}", cluster_name=self.cluster.name, principal_arn=principal,
                policy_arn=f"arn:{arn}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                access_scope={"type": "cluster"},
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[entry])))

        # NetworkPolicies are enforced only with the VPC CNI's network policy agent on. The managed add-on takes
        # over the vpc-cni EKS installs by itself (OVERWRITE, at create only) before any node joins.
        vpc_cni = aws.eks.Addon(
            f"{name}-vpc-cni", cluster_name=self.cluster.name, addon_name="vpc-cni",
            configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
            resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="PRESERVE", opts=child)
        node_groups = self._node_groups(name, config, private_subnets, child, arn, before=[vpc_cni])
        # The cold tier's egress: S3 (its managed prefix list, reached through the gateway endpoint) and STS for
        # IRSA (the interface endpoint in the private subnets); nothing else on 443.
        s3_prefix_list = aws.ec2.get_managed_prefix_list_output(
            name=f"com.amazonaws.{config.region}.s3",
            opts=pulumi.InvokeOutputOptions(parent=self, provider=self.aws_provider))
        private_cidrs = carve(config.vpc_cidr, len(config.availability_zones))[0]
        cold_tier_egress = s3_prefix_list.entries.apply(
            lambda entries: [e.cidr for e in entries or []] + private_cidrs)

        issuer = self.cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer if ids and ids[0].oidcs else "")
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=issuer.apply(lambda u: u or ""), client_id_lists=["sts.amazonaws.com"], opts=child)
        ebs_role = aws.iam.Role(
            f"{name}-ebs-csi-role",
            assume_role_policy=pulumi.Output.all(self.oidc_provider.arn, issuer).apply(
                lambda a: irsa_trust_policy(a[0], a[1], [EBS_CSI_SERVICE_ACCOUNT])),
            opts=child)
        aws.iam.RolePolicyAttachment(
            f"{name}-ebs-csi-policy", role=ebs_role.name,
            policy_arn=f"arn:{arn}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy", opts=child)
        ebs_csi = aws.eks.Addon(
            f"{name}-ebs-csi", cluster_name=self.cluster.name, addon_name="aws-ebs-csi-driver",
            service_account_role_arn=ebs_role.arn,
            # Keep changes a cluster operator made to the add-on's config; never overwrite them.
            resolve_conflicts_on_update="PRESERVE",
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=node_groups)))

        # Outputs a test's stock mocks (outputs = inputs) leave out are None: tolerated, never dereferenced.
        kubeconfig = pulumi.Output.all(self.cluster.name, self.cluster.endpoint,
                                       self.cluster.certificate_authority.apply(lambda ca: (ca and ca.data) or "")).apply(
            lambda a: render_kubeconfig(cluster_name=a[0] or name, server=a[1] or "", ca_data=a[2],
                                        user=_exec_user(a[0] or name, config.region, config.profile)))
        # The ARN names the cluster, its creation time tells a replacement (same name, same ARN) apart.
        identifier = pulumi.Output.all(self.cluster.arn, self.cluster.created_at).apply(
            lambda a: f"{a[0]}@{a[1]}" if a[0] and a[1] else a[0])
        provider = kubernetes_provider(name, kubeconfig, parent=self, cluster_identifier=identifier)
        self.handle = EksClusterHandle(kubeconfig=pulumi.Output.secret(kubeconfig), provider=provider,
                                       ready=[*node_groups, ebs_csi], cloud_provider=self.aws_provider,
                                       region=config.region, oidc_provider=self.oidc_provider,
                                       cold_tier_egress_cidrs=cold_tier_egress, cluster_name=self.cluster.name,
                                       vpc_id=self.vpc_id)
        self.register_outputs({"kubeconfig": self.handle.kubeconfig, "clusterName": self.cluster.name,
                               "oidcProviderArn": self.oidc_provider.arn})

    def _network(self, name: str, config: EksCluster, child: pulumi.ResourceOptions) -> tuple[list[pulumi.Output[str]], list[pulumi.Output[str]]]:
        private_cidrs, public_cidrs = carve(config.vpc_cidr, len(config.availability_zones))
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=config.vpc_cidr, enable_dns_hostnames=True,
                          enable_dns_support=True, tags={"Name": f"{name}-vpc"}, opts=child)
        self.vpc_id = vpc.id
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id,
                                       routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}], opts=child)
        public_ids: list[pulumi.Output[str]] = []
        private_ids: list[pulumi.Output[str]] = []
        nat_ids: list[pulumi.Output[str]] = []
        private_rt_ids: list[pulumi.Output[str]] = []
        for index, zone in enumerate(config.availability_zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}", vpc_id=vpc.id, cidr_block=public_cidrs[index], availability_zone=zone,
                map_public_ip_on_launch=False, tags={"Name": f"{name}-public-{zone}", "kubernetes.io/role/elb": "1"},
                opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=public.id,
                                          route_table_id=public_rt.id, opts=child)
            public_ids.append(public.id)
            if index == 0 or config.nat_gateway_per_az:
                eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", opts=child)
                nat = aws.ec2.NatGateway(f"{name}-nat-{zone}", allocation_id=eip.id, subnet_id=public.id,
                                         opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[igw])))
                nat_ids.append(nat.id)
            private = aws.ec2.Subnet(
                f"{name}-private-{zone}", vpc_id=vpc.id, cidr_block=private_cidrs[index], availability_zone=zone,
                tags={"Name": f"{name}-private-{zone}", "kubernetes.io/role/internal-elb": "1"}, opts=child)
            private_rt = aws.ec2.RouteTable(f"{name}-private-{zone}", vpc_id=vpc.id,
                                            routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat_ids[-1]}], opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=private.id,
                                          route_table_id=private_rt.id, opts=child)
            private_ids.append(private.id)
            private_rt_ids.append(private_rt.id)
        aws.ec2.VpcEndpoint(f"{name}-s3", vpc_id=vpc.id, service_name=f"com.amazonaws.{config.region}.s3",
                            vpc_endpoint_type="Gateway", route_table_ids=private_rt_ids, opts=child)
        sts_sg = aws.ec2.SecurityGroup(
            f"{name}-sts-endpoint", vpc_id=vpc.id, description="STS endpoint: HTTPS from the VPC",
            ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": [config.vpc_cidr]}],
            opts=child)
        aws.ec2.VpcEndpoint(f"{name}-sts", vpc_id=vpc.id, service_name=f"com.amazonaws.{config.region}.sts",
                            vpc_endpoint_type="Interface", subnet_ids=private_ids, security_group_ids=[sts_sg.id],
                            private_dns_enabled=True, opts=child)
        return private_ids, public_ids

    def _node_groups(self, name: str, config: EksCluster, subnets: list[pulumi.Output[str]],
                     child: pulumi.ResourceOptions, arn: str, before: Sequence[pulumi.Resource]) -> list[pulumi.Resource]:
        node_role = aws.iam.Role(f"{name}-node-role", assume_role_policy=_service_role_policy("ec2.amazonaws.com"), opts=child)
        attachments: list[pulumi.Resource] = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=node_role.name,
                                         policy_arn=f"arn:{arn}:iam::aws:policy/{policy}", opts=child)
            for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")]
        # The autoscaler owns desired size once the group exists (drift-prone, so explicit: config).
        ignore = ["scalingConfig.desiredSize"] if config.ignore_scaling_changes else []
        groups: list[pulumi.Resource] = []
        for pool in config.node_pools:
            naming = node_group_naming(name, pool.name, config.fixed_node_group_names)
            groups.append(aws.eks.NodeGroup(
                f"{name}-{pool.name}",
                cluster_name=self.cluster.name,
                node_group_name=naming[0], node_group_name_prefix=naming[1],
                node_role_arn=node_role.arn,
                subnet_ids=subnets,
                instance_types=[pool.instance_type],
                ami_type="AL2023_x86_64_STANDARD",
                disk_size=pool.system_disk_gib,
                labels={TIER_NODE_LABEL: pool.tier},
                scaling_config={"min_size": pool.min_size, "max_size": pool.max_size, "desired_size": pool.desired_size},
                update_config={"max_unavailable": 1},
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                    depends_on=[*attachments, *before], ignore_changes=ignore))))
        return groups


def node_group_naming(name: str, pool: str, fixed: Sequence[str]) -> tuple[str | None, str | None]:
    """`(node_group_name, node_group_name_prefix)`, one of them None. A prefix (`<name>-<pool>-` plus 26 digits
    the provider generates) lets a replacement (instance type, AZs, disk size: all force a new group) create the
    new group next to the old one; a fixed name would clash under create-before-delete. Pools in `fixed` keep the name v0.1.0 gave them
    (switching a group from name to prefix replaces it once: docs/UPGRADE.md)."""
    if pool in fixed:
        return f"{name}-{pool}", None
    return None, f"{name}-{pool}-"


def _exec_user(cluster_name: str, region: str, profile: str | None) -> dict[str, object]:
    """`aws eks get-token` as exec plugin; the profile is an argument (not AWS_PROFILE) so the kubeconfig
    authenticates as exactly the identity the provider uses."""
    args = ["--region", region, "eks", "get-token", "--cluster-name", cluster_name, "--output", "json"]
    if profile:
        args += ["--profile", profile]
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": args,
                     "interactiveMode": "Never"}}


def _s3_prefix_policy(bucket_arn: str, prefix: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket_arn,
         "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}}},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:RestoreObject",
                                       "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
         "Resource": f"{bucket_arn}/{prefix}*"}]})


def s3_cold_tier(name: str, config: S3ColdTier, tenants: Sequence[TenantIdentity], region: str,
                 oidc: aws.iam.OpenIdConnectProvider, child: pulumi.ResourceOptions,
                 egress_cidrs: pulumi.Input[Sequence[str]] | None = None) -> dict[str, ColdTierAccess]:
    """An S3 bucket (private, encrypted) and an IRSA role per tenant; the engines write in the cold storage class."""
    bucket = aws.s3.Bucket(f"{name}-bucket", bucket_prefix=f"{name}-", force_destroy=config.force_destroy, opts=child)
    aws.s3.BucketPublicAccessBlock(f"{name}-bucket", bucket=bucket.id, block_public_acls=True,
                                   block_public_policy=True, ignore_public_acls=True,
                                   restrict_public_buckets=True, opts=child)
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-bucket", bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}], opts=child)
    # The engines write with the storage class and track every object they put: the bucket's own lifecycle only
    # clears multipart uploads an engine left incomplete (no object it tracks), never moves or expires objects.
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-bucket", bucket=bucket.id,
        rules=[{"id": "cold", "status": "Enabled", "filter": {"prefix": ""},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 7}}],
        opts=child)
    issuer = oidc.url
    access: dict[str, ColdTierAccess] = {}
    for t in tenants:
        subject = f"system:serviceaccount:{t.namespace}:{t.service_account}"
        role = aws.iam.Role(
            f"{name}-{t.tenant}",
            assume_role_policy=pulumi.Output.all(oidc.arn, issuer).apply(
                lambda a, s=subject: irsa_trust_policy(a[0], a[1], [s])),
            opts=child)
        aws.iam.RolePolicy(f"{name}-{t.tenant}", role=role.id,
                           policy=bucket.arn.apply(lambda arn, p=f"{t.tenant}/": _s3_prefix_policy(arn, p)),
                           opts=child)
        suffix = ".cn" if partition(region) == "aws-cn" else ""
        access[t.tenant] = ColdTierAccess(
            endpoint=f"https://s3.{region}.amazonaws.com{suffix}",
            region=region, bucket=bucket.bucket, prefix=f"{t.tenant}/", storage_class=config.storage_class,
            addressing="virtual",  # AWS's preferred style (path-style requests are deprecated)
            service_account_annotations={"eks.amazonaws.com/role-arn": role.arn}, role_arn=role.arn,
            # The regional STS endpoint: the VPC's interface endpoint answers it (private DNS), inside the egress.
            sts_endpoint=f"https://sts.{region}.amazonaws.com{suffix}", egress_cidrs=egress_cidrs)
    return access


class Eks:
    """`cloud: eks` (extra `[eks]`)."""

    cloud = "eks"
    explicit_arguments: frozenset[str] = frozenset()

    def create_cluster(self, name: str, config: EksCluster, *, opts: pulumi.ResourceOptions,
                       **explicit: Any) -> EksClusterHandle:
        return EksClusterResource(f"{name}-eks", config, opts=opts).handle

    def storage_class(self, tier: EbsTier) -> tuple[str, dict[str, str]]:
        params = {"type": tier.volume_type, "encrypted": "true", "csi.storage.k8s.io/fstype": "xfs"}
        if tier.iops is not None:
            params["iops"] = str(tier.iops)
        if tier.throughput_mib is not None:
            params["throughput"] = str(tier.throughput_mib)
        return "ebs.csi.aws.com", params

    def create_cold_tier(self, name: str, config: S3ColdTier, tenants: Sequence[TenantIdentity],
                         handle: ClusterHandle, *, opts: pulumi.ResourceOptions,
                         secret_access_key: pulumi.Input[str] | None) -> dict[str, ColdTierAccess]:
        if not isinstance(handle, EksClusterHandle):
            raise ValueError("an S3 cold tier needs the EKS cluster's OIDC provider (IRSA)")
        return s3_cold_tier(name, config, tenants, handle.region, handle.oidc_provider, opts,
                            egress_cidrs=handle.cold_tier_egress_cidrs)

    def ingress_service_annotations(self, config: IngressConfig) -> dict[str, str]:
        # AWS Load Balancer Controller docs, guide/service/nlb and guide/service/annotations
        # (kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/nlb): type 'external' hands
        # the Service to the LBC, target type 'ip' registers the pods, and its scheme defaults to 'internal'.
        if config.aws_load_balancer_controller:
            return {"service.beta.kubernetes.io/aws-load-balancer-type": "external",
                    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                    "service.beta.kubernetes.io/aws-load-balancer-scheme": config.scheme}
        # The in-tree controller (cloud provider AWS): type 'nlb', internet-facing unless
        # 'aws-load-balancer-internal' is "true" (same annotations page: 'internal' is its older form).
        annotations = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
        if config.scheme == "internal":
            annotations["service.beta.kubernetes.io/aws-load-balancer-internal"] = "true"
        return annotations


CLOUD = Eks()
