"""InferenceCluster: private, encrypted, API-authenticated EKS with managed add-ons and a system node group."""

from __future__ import annotations

import datetime
import functools
import json

import pytest
from hybrid_ai_platform.components.eks_versions import EKS_VERSIONS, lookup
from hybrid_ai_platform.components.kubernetes import kubeconfig_document
from hybrid_ai_platform.components.tagging import REQUIRED_TAG_KEYS, is_taggable

from hybrid_ai_platform.cli.synth import Plan, read_stack_files, synthesize
from hybrid_ai_platform.config import ConfigError
from tests.plan_helpers import depends_via, named, of_type, statements

PUBLIC_CLUSTER = {
    "admin_role_arns": ["arn:aws:iam::123456789012:role/platform-admins"],
    "public_endpoint": True,
    "public_access_cidrs": ["203.0.113.0/24"],
    # dev's model needs GPU nodes: the service, its rollout surge pod and the nightly job
    "gpu_node_groups": [{"name": "gpu-small", "instance_types": ["g4dn.xlarge"], "max_size": 3}],
}


@functools.cache
def public_plan() -> Plan:
    """The dev stack with a public endpoint limited to one CIDR."""
    return synthesize("dev", overrides={"hybrid-ai-platform:cluster": PUBLIC_CLUSTER})


def test_every_taggable_resource_carries_the_required_tags(any_stack_plan: Plan) -> None:
    # GIVEN any shipped stack
    # WHEN every taggable AWS resource's tags are read
    missing = {
        r.name: [k for k in REQUIRED_TAG_KEYS if k not in (r.inputs.get("tags") or {})]
        for r in any_stack_plan.resources
        if r.custom and is_taggable(r.type)
    }
    # THEN none lacks a required tag
    assert {name: keys for name, keys in missing.items() if keys} == {}


def test_cluster_authenticates_with_access_entries_only_and_gives_the_creator_nothing(prod_plan: Plan) -> None:
    cluster = named(prod_plan, "cluster-eks")
    assert cluster.inputs["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": False,
    }


def test_each_admin_role_gets_a_cluster_scoped_admin_access_policy(prod_plan: Plan) -> None:
    # GIVEN prod's two admin roles and its deployer role
    entries = of_type(prod_plan, "aws:eks/accessEntry:AccessEntry")
    associations = of_type(prod_plan, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    # THEN each has an entry and a cluster-scope AmazonEKSClusterAdminPolicy, keyed by role name
    assert sorted(e.name for e in entries) == [
        "cluster-admin-github-actions-deploy",
        "cluster-admin-platform-admins",
        "cluster-admin-sre-break-glass",
    ]
    assert {a.inputs["principalArn"] for a in associations} == {e.inputs["principalArn"] for e in entries}
    for association in associations:
        assert association.inputs["policyArn"].endswith("/AmazonEKSClusterAdminPolicy")
        assert association.inputs["accessScope"] == {"type": "cluster"}


def test_api_endpoint_is_private_by_default(any_stack_plan: Plan) -> None:
    vpc = named(any_stack_plan, "cluster-eks").inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc


def test_public_endpoint_opt_out_is_limited_to_the_listed_cidrs() -> None:
    # GIVEN the named opt-out with one CIDR
    vpc = named(public_plan(), "cluster-eks").inputs["vpcConfig"]
    # THEN the endpoint is public only for that CIDR, and still private
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert vpc["endpointPrivateAccess"] is True


def test_public_endpoint_to_the_whole_internet_is_refused() -> None:
    with pytest.raises(ConfigError, match="opens the API server to every address"):
        synthesize(
            "dev", overrides={"hybrid-ai-platform:cluster": {**PUBLIC_CLUSTER, "public_access_cidrs": ["0.0.0.0/0"]}}
        )


def test_secrets_are_envelope_encrypted_with_the_stack_key(prod_plan: Plan) -> None:
    cluster = named(prod_plan, "cluster-eks")
    key = named(prod_plan, "stack-key-key")
    assert cluster.inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert depends_via(cluster, "encryptionConfig", key)


def test_control_plane_logs_go_to_a_precreated_encrypted_group(prod_plan: Plan) -> None:
    # GIVEN the cluster and its log group
    cluster = named(prod_plan, "cluster-eks")
    group = named(prod_plan, "cluster-control-plane-logs")
    # THEN all log types are on and the group exists first, with retention and the stack key
    assert {"api", "audit", "authenticator"} <= set(cluster.inputs["enabledClusterLogTypes"])
    assert group.inputs["name"] == "/aws/eks/hybrid-ai-platform-prod/cluster"
    assert group.inputs["retentionInDays"] == 90
    assert depends_via(group, "kmsKeyId", named(prod_plan, "stack-key-key"))
    assert group.urn in cluster.dependencies


def test_cluster_role_may_use_only_the_stack_key(prod_plan: Plan) -> None:
    policy = statements(named(prod_plan, "cluster-cluster-kms").inputs["policy"])
    key_arn = prod_plan.outputs["kms_key_arn"]
    assert policy == [
        {
            "Sid": "EnvelopeEncryptionWithStackKey",
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"],
            "Resource": key_arn,
        }
    ]


def test_node_role_has_no_cni_policy_because_the_cni_uses_pod_identity(prod_plan: Plan) -> None:
    # GIVEN the node role's attachments and the vpc-cni add-on
    node_policies = {
        r.inputs["policyArn"].rsplit("/", 1)[-1]
        for r in of_type(prod_plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.name.startswith("cluster-node-")
    }
    cni = named(prod_plan, "cluster-vpc-cni")
    cni_role = named(prod_plan, "cluster-vpc-cni-identity-role")
    # THEN nodes get only worker and ECR read; the CNI policy is on aws-node's own role
    assert node_policies == {"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly"}
    [association] = cni.inputs["podIdentityAssociations"]
    assert association["serviceAccount"] == "aws-node"
    assert depends_via(cni, "podIdentityAssociations", cni_role)
    assert (
        named(prod_plan, "cluster-vpc-cni-identity-AmazonEKS_CNI_Policy")
        .inputs["policyArn"]
        .endswith("AmazonEKS_CNI_Policy")
    )


def test_vpc_cni_enforces_network_policies(prod_plan: Plan) -> None:
    config = json.loads(named(prod_plan, "cluster-vpc-cni").inputs["configurationValues"])
    assert config["enableNetworkPolicy"] == "true"


def test_managed_addons_are_installed_and_coredns_waits_for_the_system_nodes(prod_plan: Plan) -> None:
    addons = {a.inputs["addonName"]: a for a in of_type(prod_plan, "aws:eks/addon:Addon")}
    assert set(addons) == {
        "vpc-cni",
        "coredns",
        "kube-proxy",
        "eks-pod-identity-agent",
        "metrics-server",
        "amazon-cloudwatch-observability",
    }
    for addon in addons.values():
        assert addon.inputs["resolveConflictsOnCreate"] == "OVERWRITE"
        assert addon.inputs["resolveConflictsOnUpdate"] == "PRESERVE"
    assert named(prod_plan, "cluster-system-nodes").urn in addons["coredns"].options["depends_on"]


def test_metrics_server_is_installed_and_can_only_run_on_the_system_nodes(any_stack_plan: Plan) -> None:
    # GIVEN every stack (KEDA's HPAs and kubectl top read the resource metrics API)
    addons = {a.inputs["addonName"]: a for a in of_type(any_stack_plan, "aws:eks/addon:Addon")}
    # THEN the EKS metrics-server add-on serves it
    assert "metrics-server" in addons
    metrics_server = addons["metrics-server"]
    # AND it is created once the system nodes exist, and every other node group is tainted
    # NoSchedule, so its pods (which tolerate no such taint) land on the system nodes
    assert named(any_stack_plan, "cluster-system-nodes").urn in metrics_server.options["depends_on"]
    for group in of_type(any_stack_plan, "aws:eks/nodeGroup:NodeGroup"):
        if group.inputs["nodeGroupName"] != "system":
            assert any(t["effect"] == "NO_SCHEDULE" for t in group.inputs["taints"])
        else:
            assert "taints" not in group.inputs


def test_vpc_cni_waits_for_the_pod_identity_agent_and_nodes_wait_for_both(any_stack_plan: Plan) -> None:
    # GIVEN the add-ons and the node groups (AWS: the node role needs no CNI policy when Pod
    # Identity gives the CNI its permissions and the agent is set up)
    agent = named(any_stack_plan, "cluster-eks-pod-identity-agent")
    cni = named(any_stack_plan, "cluster-vpc-cni")
    # THEN the agent is created before the CNI, and every node group after both
    assert agent.urn in cni.options["depends_on"]
    for group in of_type(any_stack_plan, "aws:eks/nodeGroup:NodeGroup"):
        assert {agent.urn, cni.urn} <= set(group.options["depends_on"])


def test_pinned_addon_versions_are_passed_to_eks() -> None:
    # GIVEN a pinned vpc-cni version
    plan = synthesize(
        "dev",
        overrides={
            "hybrid-ai-platform:cluster": {**PUBLIC_CLUSTER, "addon_versions": {"vpc-cni": "v1.19.2-eksbuild.1"}}
        },
    )
    # THEN that add-on carries the version and the others use EKS's default
    versions = {a.inputs["addonName"]: a.inputs.get("addonVersion") for a in of_type(plan, "aws:eks/addon:Addon")}
    assert versions == {
        "vpc-cni": "v1.19.2-eksbuild.1",
        "coredns": None,
        "kube-proxy": None,
        "eks-pod-identity-agent": None,
        "metrics-server": None,
        "amazon-cloudwatch-observability": None,
    }


def test_system_node_group_is_on_demand_al2023_with_a_hardened_launch_template(prod_plan: Plan) -> None:
    group = named(prod_plan, "cluster-system-nodes")
    template = named(prod_plan, "cluster-system-lt")
    assert group.inputs["capacityType"] == "ON_DEMAND"
    assert group.inputs["amiType"] == "AL2023_x86_64_STANDARD"
    assert group.inputs["instanceTypes"] == ["m7i.xlarge"]
    assert group.inputs["scalingConfig"] == {"minSize": 3, "desiredSize": 3, "maxSize": 6}
    assert depends_via(group, "launchTemplate", template)
    assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    assert template.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 50


def test_kms_grant_lets_auto_scaling_launch_nodes_with_encrypted_volumes(prod_plan: Plan) -> None:
    grant = named(prod_plan, "cluster-autoscaling-volume-grant")
    assert grant.inputs["granteePrincipal"].endswith(
        ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    )
    assert {"Decrypt", "GenerateDataKeyWithoutPlaintext", "CreateGrant"} <= set(grant.inputs["operations"])
    assert grant.urn in named(prod_plan, "gpu-l4-nodes").options["depends_on"]


def test_autoscaling_service_linked_role_is_a_prerequisite_by_default(any_stack_plan: Plan) -> None:
    # GIVEN the shipped stacks (the flag is off: creating an existing service-linked role fails)
    # THEN no service-linked role is created
    assert of_type(any_stack_plan, "aws:iam/serviceLinkedRole:ServiceLinkedRole") == []


def test_opt_in_creates_the_autoscaling_service_linked_role_before_the_key_grant() -> None:
    # GIVEN a fresh account that never used EC2 Auto Scaling
    cluster = {**PUBLIC_CLUSTER, "create_autoscaling_service_linked_role": True}
    plan = synthesize("dev", overrides={"hybrid-ai-platform:cluster": cluster})
    [role] = of_type(plan, "aws:iam/serviceLinkedRole:ServiceLinkedRole")
    grant = named(plan, "cluster-autoscaling-volume-grant")
    # THEN the stack creates AWSServiceRoleForAutoScaling's service-linked role, kept on destroy,
    # and the grant naming it waits for it
    assert role.inputs["awsServiceName"] == "autoscaling.amazonaws.com"
    assert role.options.get("retain_on_delete") is True
    assert role.urn in grant.options["depends_on"]


def test_kubernetes_provider_uses_an_exec_kubeconfig_kept_secret(prod_plan: Plan) -> None:
    # GIVEN the Kubernetes provider and the stack outputs
    [provider] = of_type(prod_plan, "pulumi:providers:kubernetes")
    # THEN the kubeconfig is a secret, server-side apply is on and it waits for admin access
    assert set(provider.inputs["kubeconfig"]) == {"secret"}
    assert prod_plan.outputs["kubeconfig"] == "[secret]"
    assert provider.inputs["enableServerSideApply"] == "true"
    admins = of_type(prod_plan, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert {a.urn for a in admins} <= set(provider.options["depends_on"])


def test_kubeconfig_authenticates_with_aws_eks_get_token() -> None:
    # GIVEN a cluster's endpoint and CA
    # WHEN its kubeconfig is built
    document = kubeconfig_document("ai-prod", "https://example.eks.amazonaws.com", "Q0E=", "eu-central-1")
    # THEN it holds no credential: the user execs aws eks get-token for that cluster and region
    [user] = document["users"]
    assert set(user["user"]) == {"exec"}
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"] == ["eks", "get-token", "--cluster-name", "ai-prod", "--region", "eu-central-1"]
    assert user["user"]["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert document["clusters"][0]["cluster"]["server"] == "https://example.eks.amazonaws.com"


def test_cluster_autoscaler_is_pinned_and_discovers_this_clusters_groups(prod_plan: Plan) -> None:
    release = named(prod_plan, "cluster-autoscaler-release")
    values = release.inputs["values"]
    assert release.inputs["chart"] == "cluster-autoscaler"
    assert release.inputs["repositoryOpts"] == {"repo": "https://kubernetes.github.io/autoscaler"}
    assert release.inputs["version"] == "9.59.0"
    assert values["image"]["tag"] == "v1.36.1"
    assert values["autoDiscovery"]["tags"] == [
        "k8s.io/cluster-autoscaler/enabled",
        "k8s.io/cluster-autoscaler/hybrid-ai-platform-prod",
    ]
    assert named(prod_plan, "cluster-autoscaler-identity-association").urn in release.options["depends_on"]


def test_cluster_autoscaler_may_scale_only_groups_tagged_for_this_cluster(prod_plan: Plan) -> None:
    # GIVEN the autoscaler's role policy and Pod Identity association
    policy = {s["Sid"]: s for s in statements(named(prod_plan, "cluster-autoscaler-identity-policy").inputs["policy"])}
    association = named(prod_plan, "cluster-autoscaler-identity-association")
    # THEN the write actions are conditioned on the cluster's owner tag and scoped to ASGs
    scale = policy["ScaleOwnNodeGroupsOnly"]
    assert scale["Condition"] == {
        "StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/hybrid-ai-platform-prod": "owned"}
    }
    assert scale["Resource"].startswith("arn:aws:autoscaling:eu-central-1:123456789012:autoScalingGroup:")
    assert all(
        a.split(":")[1].startswith(("Describe", "GetInstanceTypes"))
        for a in policy["DiscoverGroupsAndInstanceTypes"]["Action"]
    )
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        "kube-system",
        "cluster-autoscaler",
    )


# Kubernetes version lifecycle -------------------------------------------------------------------

TODAY = datetime.date(2026, 11, 28)


def test_every_shipped_stack_has_six_months_of_standard_support_left(any_stack_plan: Plan) -> None:
    # GIVEN a stack's cluster version and the dated EKS version table
    version = named(any_stack_plan, "cluster-eks").inputs["version"]
    row = lookup(version)
    # THEN the version is in the table and stays in standard support for at least six months
    assert row is not None
    assert row.standard_support_end >= datetime.date(2027, 5, 28)
    assert named(any_stack_plan, "cluster-eks").inputs["upgradePolicy"] == {"supportType": "STANDARD"}


def test_autoscaler_image_and_chart_come_from_the_version_table(any_stack_plan: Plan) -> None:
    # GIVEN the cluster version and the autoscaler release
    row = lookup(named(any_stack_plan, "cluster-eks").inputs["version"])
    release = named(any_stack_plan, "cluster-autoscaler-release")
    # THEN the image's minor matches the cluster's and both pins are the table's
    assert row is not None
    assert release.inputs["values"]["image"]["tag"] == row.cluster_autoscaler_image_tag
    assert release.inputs["version"] == row.cluster_autoscaler_chart_version
    assert row.cluster_autoscaler_image_tag.startswith(f"v{row.version}.")


def test_a_version_outside_the_table_is_refused_naming_the_field_and_the_offered_versions() -> None:
    with pytest.raises(ConfigError) as error:
        synthesize("dev", overrides={"hybrid-ai-platform:cluster": {**PUBLIC_CLUSTER, "kubernetes_version": "1.29"}})
    [problem] = error.value.problems
    assert problem.startswith('cluster.kubernetes_version: "1.29" is not an EKS version')
    assert ", ".join(EKS_VERSIONS) in problem


def test_the_version_table_is_consistent() -> None:
    # GIVEN every row: 14 months of standard support, then 12 of extended support
    for version, row in EKS_VERSIONS.items():
        assert row.version == version
        assert row.released < row.standard_support_end < row.extended_support_end
        months = (row.standard_support_end.year - row.released.year) * 12 + (
            row.standard_support_end.month - row.released.month
        )
        assert months == 14, version
        assert row.extended_support_end == row.standard_support_end.replace(year=row.standard_support_end.year + 1)
        assert row.cluster_autoscaler_image_tag.startswith(f"v{version}.")


# Deploy path -----------------------------------------------------------------------------------

DEPLOYER = {
    "role_arn": "arn:aws:iam::123456789012:role/ci-deploy",
    "source_security_group_ids": ["sg-0123456789abcdef0"],
    "cidrs": ["10.100.0.0/24", "fd00:100::/56"],
}


def dev_cluster(**changes: object) -> dict[str, object]:
    """dev's own cluster section (its GPU groups included) with some keys changed."""
    return {**read_stack_files("dev").config["hybrid-ai-platform:cluster"], **changes}


@functools.cache
def deployer_plan() -> Plan:
    """The dev stack deployed by a CI role from a runner security group and two CIDRs."""
    cluster = dev_cluster(admin_role_arns=["arn:aws:iam::123456789012:role/platform-admins"], deployer=DEPLOYER)
    return synthesize("dev", overrides={"hybrid-ai-platform:cluster": cluster})


def test_deployer_role_becomes_a_cluster_admin_access_entry() -> None:
    plan = deployer_plan()
    entry = named(plan, "cluster-admin-ci-deploy")
    association = named(plan, "cluster-admin-ci-deploy-policy")
    assert entry.inputs["principalArn"] == DEPLOYER["role_arn"]
    assert association.inputs["principalArn"] == DEPLOYER["role_arn"]
    assert association.inputs["policyArn"].endswith("/AmazonEKSClusterAdminPolicy")
    assert association.inputs["accessScope"] == {"type": "cluster"}


def test_deployer_sources_may_reach_the_api_server_on_443_only() -> None:
    # GIVEN the deployer's security group and CIDRs
    plan = deployer_plan()
    cluster = named(plan, "cluster-eks")
    rules = of_type(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    # THEN each source gets one TCP 443 rule on the cluster security group
    sources = {
        r.inputs.get("referencedSecurityGroupId") or r.inputs.get("cidrIpv4") or r.inputs.get("cidrIpv6") for r in rules
    }
    assert sources == {"sg-0123456789abcdef0", "10.100.0.0/24", "fd00:100::/56"}
    for rule in rules:
        assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("tcp", 443, 443)
        assert rule.inputs["securityGroupId"].startswith("sg-")
        assert depends_via(rule, "securityGroupId", cluster)  # the EKS-created cluster security group
    # AND the Kubernetes provider waits for the rules and the deployer's admin access
    [provider] = of_type(plan, "pulumi:providers:kubernetes")
    assert {r.urn for r in rules} <= set(provider.options["depends_on"])
    assert named(plan, "cluster-admin-ci-deploy-policy").urn in provider.options["depends_on"]


def test_a_deployer_also_listed_as_admin_gets_one_access_entry() -> None:
    cluster = dev_cluster(admin_role_arns=[DEPLOYER["role_arn"]], deployer=DEPLOYER)
    plan = synthesize("dev", overrides={"hybrid-ai-platform:cluster": cluster})
    entries = of_type(plan, "aws:eks/accessEntry:AccessEntry")
    assert [e.inputs["principalArn"] for e in entries] == [DEPLOYER["role_arn"]]


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_a_deployer_cidr_for_every_address_is_refused(cidr: str) -> None:
    with pytest.raises(ConfigError) as error:
        synthesize("dev", overrides={"hybrid-ai-platform:cluster": {"deployer": {**DEPLOYER, "cidrs": [cidr]}}})
    [problem] = error.value.problems
    assert problem.startswith("cluster.deployer.cidrs")
    assert "every address" in problem


def test_a_deployer_with_no_network_path_to_a_private_endpoint_is_refused() -> None:
    deployer = {"role_arn": DEPLOYER["role_arn"]}
    with pytest.raises(ConfigError) as error:
        synthesize("dev", overrides={"hybrid-ai-platform:cluster": {"deployer": deployer}})
    [problem] = error.value.problems
    assert problem.startswith("cluster.deployer: the API endpoint is private")
    assert "source_security_group_ids or cidrs" in problem


def test_a_deployer_of_a_public_endpoint_needs_no_network_rules() -> None:
    # GIVEN the public-endpoint opt-out and a deployer with only its role
    cluster = {**PUBLIC_CLUSTER, "deployer": {"role_arn": DEPLOYER["role_arn"]}}
    plan = synthesize("dev", overrides={"hybrid-ai-platform:cluster": cluster})
    # THEN the role gets admin access and no ingress rule is created
    assert named(plan, "cluster-admin-ci-deploy").inputs["principalArn"] == DEPLOYER["role_arn"]
    assert of_type(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") == []


def test_cloudwatch_observability_addon_runs_on_pod_identity_with_gpu_metrics_and_emf(prod_plan: Plan) -> None:
    addon = next(
        a
        for a in of_type(prod_plan, "aws:eks/addon:Addon")
        if a.inputs["addonName"] == "amazon-cloudwatch-observability"
    )
    # THEN its agent's service account gets a role with CloudWatchAgentServerPolicy, through Pod Identity
    (association,) = addon.inputs["podIdentityAssociations"]
    assert association["serviceAccount"] == "cloudwatch-agent"
    role = named(prod_plan, "cluster-cloudwatch-agent-identity-role")
    assert association["roleArn"].endswith(role.id) or depends_via(addon, "podIdentityAssociations", role)
    trust = statements(role.inputs["assumeRolePolicy"])[0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    attachment = named(prod_plan, "cluster-cloudwatch-agent-identity-CloudWatchAgentServerPolicy").inputs
    assert attachment["policyArn"] == "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"
    # AND Container Insights runs with enhanced observability and NVIDIA GPU metrics, plus the EMF listener
    config = json.loads(addon.inputs["configurationValues"])["agent"]["config"]["logs"]["metrics_collected"]
    assert config["kubernetes"] == {"enhanced_container_insights": True, "accelerated_compute_metrics": True}
    assert config["emf"] == {}
    # AND it is installed once the system nodes (its operator's home) exist
    assert named(prod_plan, "cluster-system-nodes").urn in addon.options["depends_on"]
