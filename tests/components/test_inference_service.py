"""InferenceService: namespace, identity, image repository and a hardened, pinned GPU Deployment per model."""

from __future__ import annotations

import json
from typing import Any

import hybrid_ai_platform.components.inference_service as inference_service
import pytest
from hybrid_ai_platform.components.inference_service import METRICS_SCRAPER_NAMESPACE, ArtifactCheckError

from hybrid_ai_platform.cli.mocks import FRESH_ACCOUNT, AccountState
from hybrid_ai_platform.cli.synth import Plan, synthesize
from hybrid_ai_platform.config import ROLLOUT_MAX_SURGE
from tests.conftest import shipped_plan
from tests.plan_helpers import depends_via, named, of_type, statements

MODELS = ("fraud-scorer", "churn-predictor")
DEV_MODEL = {"name": "fraud-scorer", "version": "3", "image_tag": "1.4.0", "min_replicas": 1, "max_replicas": 1}
DEV_REPOSITORY = "hybrid-ai-platform-dev/fraud-scorer"
DEFERRED = ("fraud-scorer-deployment", "fraud-scorer-service", "fraud-scorer-scaledobject", "fraud-scorer-pdb")
WORKLOAD_TYPES = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:core/v1:Service",
    "kubernetes:keda.sh/v1alpha1:ScaledObject",
    "kubernetes:policy/v1:PodDisruptionBudget",
    "kubernetes:batch/v1:CronJob",
)


def _pod(plan: Plan, model: str) -> dict[str, Any]:
    return named(plan, f"{model}-deployment").inputs["spec"]["template"]["spec"]


def _container(plan: Plan, model: str) -> dict[str, Any]:
    [container] = _pod(plan, model)["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def test_one_service_per_model_in_its_own_restricted_namespace(prod_plan: Plan) -> None:
    namespaces = {n.inputs["metadata"]["name"]: n for n in of_type(prod_plan, "kubernetes:core/v1:Namespace")}
    assert set(MODELS) <= set(namespaces)
    for model in MODELS:
        labels = namespaces[model].inputs["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert prod_plan.outputs["inference_namespaces"] == {m: m for m in MODELS}


def test_kubernetes_resources_use_the_clusters_provider(prod_plan: Plan) -> None:
    [provider] = of_type(prod_plan, "pulumi:providers:kubernetes")
    k8s = [r for r in prod_plan.resources if r.custom and r.type.startswith("kubernetes:")]
    assert k8s
    assert all(r.provider and r.provider.startswith(provider.urn) for r in k8s)


def test_model_role_reads_only_its_own_registry_prefix(prod_plan: Plan) -> None:
    # GIVEN the fraud-scorer identity
    policy = statements(named(prod_plan, "fraud-scorer-identity-policy").inputs["policy"])
    bucket = prod_plan.outputs["model_registry_bucket"]
    # THEN it reads objects under models/fraud-scorer/ only, lists only that prefix, decrypts via S3 only
    actions = {a for s in policy for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "kms:Decrypt"}
    get = next(s for s in policy if "s3:GetObject" in s["Action"])
    assert get["Resource"] == f"arn:aws:s3:::{bucket}/models/fraud-scorer/*"
    listing = next(s for s in policy if s["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["models/fraud-scorer/*"]}}
    kms = next(s for s in policy if s["Action"] == ["kms:Decrypt"])
    assert kms["Resource"] == prod_plan.outputs["kms_key_arn"]


def test_model_role_trusts_only_its_service_account_through_pod_identity(prod_plan: Plan) -> None:
    [trust] = statements(named(prod_plan, "fraud-scorer-identity-role").inputs["assumeRolePolicy"])
    association = named(prod_plan, "fraud-scorer-identity-association")
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert trust["Condition"]["StringEquals"] == {
        "aws:RequestTag/eks-cluster-arn": "arn:aws:eks:eu-central-1:123456789012:cluster/hybrid-ai-platform-prod",
        "aws:RequestTag/kubernetes-namespace": "fraud-scorer",
        "aws:RequestTag/kubernetes-service-account": "fraud-scorer",
    }
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("fraud-scorer", "fraud-scorer")
    assert depends_via(association, "roleArn", named(prod_plan, "fraud-scorer-identity-role"))
    assert _pod(prod_plan, "fraud-scorer")["serviceAccountName"] == "fraud-scorer"


def test_image_repository_is_immutable_scanned_and_encrypted_with_a_lifecycle(prod_plan: Plan) -> None:
    repository = named(prod_plan, "fraud-scorer-repository")
    assert repository.inputs["name"] == "hybrid-ai-platform-prod/fraud-scorer"
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    [encryption] = repository.inputs["encryptionConfigurations"]
    assert encryption == {"encryptionType": "KMS", "kmsKey": prod_plan.outputs["kms_key_arn"]}
    rules = json.loads(named(prod_plan, "fraud-scorer-repository-lifecycle").inputs["policy"])["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]
    assert rules[1]["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30}


def test_deployment_runs_the_pinned_image_and_model_version(prod_plan: Plan) -> None:
    container = _container(prod_plan, "fraud-scorer")
    deployment = named(prod_plan, "fraud-scorer-deployment")
    url = prod_plan.outputs["ecr_repository_urls"]["fraud-scorer"]
    assert container["image"] == f"{url}:1.4.0"
    assert deployment.inputs["metadata"]["annotations"]["hybrid-ai/model-version"] == "3"
    assert deployment.inputs["spec"]["template"]["metadata"]["annotations"]["hybrid-ai/model-version"] == "3"
    env = _env(container)
    bucket = prod_plan.outputs["model_registry_bucket"]
    assert env["MODEL_REPOSITORY"] == f"s3://{bucket}/models"
    assert (env["MODEL_NAME"], env["MODEL_VERSION"], env["PORT"]) == ("fraud-scorer", "3", "8080")
    assert (env["MAX_BATCH_SIZE"], env["MAX_QUEUE_DELAY_MS"]) == ("32", "5")
    assert env["MODEL_CACHE_DIR"] == "/var/cache/models"


def test_deployment_rolls_one_pod_at_a_time_without_losing_capacity(prod_plan: Plan) -> None:
    deployment = named(prod_plan, "fraud-scorer-deployment")
    strategy = deployment.inputs["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    # AND the surge is the one the GPU capacity check counts
    assert strategy["rollingUpdate"]["maxSurge"] == ROLLOUT_MAX_SURGE
    # AND pulumi waits long enough for a GPU node to scale up and the model to load (600 s + 15 min)
    assert deployment.options["custom_timeouts"] == {"create": "25m", "update": "25m", "delete": ""}


def test_pods_are_hardened_to_the_restricted_standard(any_stack_plan: Plan) -> None:
    # GIVEN every inference Deployment of every shipped stack
    for deployment in of_type(any_stack_plan, "kubernetes:apps/v1:Deployment"):
        pod = deployment.inputs["spec"]["template"]["spec"]
        [container] = pod["containers"]
        # THEN pod and container run as 10001, non-root, read-only, no privilege, RuntimeDefault seccomp
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert context["runAsUser"] == 10001
        assert pod["automountServiceAccountToken"] is False


def test_writable_paths_are_emptydirs_for_the_model_cache_and_tmp(prod_plan: Plan) -> None:
    container = _container(prod_plan, "fraud-scorer")
    pod = _pod(prod_plan, "fraud-scorer")
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts == {"/var/cache/models": "model-cache", "/tmp": "tmp"}
    assert all("emptyDir" in volumes[name] for name in mounts.values())


def test_pods_get_gpus_on_gpu_nodes_with_guaranteed_resources(dev_plan: Plan) -> None:
    # GIVEN dev's fraud-scorer (1 CPU, 4Gi)
    container = _container(dev_plan, "fraud-scorer")
    pod = _pod(dev_plan, "fraud-scorer")
    # THEN requests equal limits, with one GPU, and the pod tolerates and selects GPU nodes
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "4Gi", "nvidia.com/gpu": "1"}
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}


def test_probes_use_the_v2_health_endpoints_and_allow_time_for_model_load(prod_plan: Plan) -> None:
    container = _container(prod_plan, "fraud-scorer")
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600


def test_pods_spread_across_zones(prod_plan: Plan) -> None:
    [spread] = _pod(prod_plan, "fraud-scorer")["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/name"] == "fraud-scorer"


def test_service_scaler_and_pdb_follow_the_model_config(prod_plan: Plan) -> None:
    service = named(prod_plan, "fraud-scorer-service").inputs["spec"]
    scaler = named(prod_plan, "fraud-scorer-scaledobject").inputs
    pdb = named(prod_plan, "fraud-scorer-pdb").inputs["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    spec = scaler["spec"]
    assert (scaler["apiVersion"], scaler["kind"]) == ("keda.sh/v1alpha1", "ScaledObject")
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 6)
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud-scorer"}
    assert pdb["maxUnavailable"] == 1


def test_the_model_scales_on_in_flight_requests_per_pod_not_cpu(prod_plan: Plan) -> None:
    # GIVEN prod's fraud-scorer ScaledObject
    spec = named(prod_plan, "fraud-scorer-scaledobject").inputs["spec"]
    (trigger,) = spec["triggers"]
    meta = trigger["metadata"]
    # THEN its one trigger reads the servers' InFlight metric from CloudWatch, per pod, against the config target
    # (the average of the pods' once-a-minute samples is in-flight per pod: compared as a Value)
    assert (trigger["type"], trigger["metricType"]) == ("aws-cloudwatch", "Value")
    assert (meta["namespace"], meta["metricName"], meta["metricStat"]) == (
        "HybridAiPlatform/Inference",
        "InFlight",
        "Average",
    )
    # and the window leaves room for the agent's flush and ingestion
    assert int(meta["metricEndTimeOffset"]) >= 120 and int(meta["metricCollectionTime"]) >= 300
    assert meta["dimensionName"] == "ClusterName;Model"
    assert meta["dimensionValue"] == f"{prod_plan.outputs['cluster_name']};fraud-scorer"
    assert meta["targetMetricValue"] == "8" and meta["awsRegion"] == "eu-central-1"
    # AND it authenticates as the KEDA operator (Pod Identity), whose role may only read metrics
    assert trigger["authenticationRef"] == {"name": "keda-aws-operator-identity"}
    auth = named(prod_plan, "fraud-scorer-trigger-auth").inputs
    assert auth["spec"] == {"podIdentity": {"provider": "aws"}}
    policy = statements(named(prod_plan, "keda-identity-policy").inputs["policy"])
    assert [(s["Action"], s["Resource"]) for s in policy] == [("cloudwatch:GetMetricData", "*")]
    association = named(prod_plan, "keda-identity-association").inputs
    assert (association["namespace"], association["serviceAccount"]) == ("keda", "keda-operator")
    release = named(prod_plan, "keda-release").inputs
    assert (release["chart"], release["version"]) == ("keda", "2.21.0")
    assert named(prod_plan, "keda-release").urn in named(prod_plan, "fraud-scorer-scaledobject").options["depends_on"]
    # AND no CPU-based HPA remains
    assert of_type(prod_plan, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler") == []


def test_the_capacity_check_counts_the_scalers_min_and_max_replicas(prod_plan: Plan) -> None:
    from hybrid_ai_platform.config import ROLLOUT_MAX_SURGE, parse_platform_config

    raw = {k.split(":", 1)[1]: v for k, v in prod_plan.config.items() if k.startswith("hybrid-ai-platform:")}
    config = parse_platform_config({**raw, "region": prod_plan.config["aws:region"]}, "prod")
    scalers = {
        s.inputs["metadata"]["name"]: s.inputs["spec"]
        for s in of_type(prod_plan, "kubernetes:keda.sh/v1alpha1:ScaledObject")
    }
    gpus = {m.name: m.resources.gpus for m in config.inference.models}
    jobs = sum(gpus[j.model] for j in config.inference.batch_jobs)
    for peak, key in ((False, "minReplicaCount"), (True, "maxReplicaCount")):
        expected = sum((spec[key] + ROLLOUT_MAX_SURGE) * gpus[name] for name, spec in scalers.items()) + jobs
        assert config.gpu_demand(peak=peak)[0] == expected


def test_namespace_denies_all_traffic_by_default(prod_plan: Plan) -> None:
    deny = named(prod_plan, "fraud-scorer-default-deny").inputs
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert deny["metadata"]["namespace"] == "fraud-scorer"


def test_only_allowed_namespaces_may_call_the_model_on_8080(prod_plan: Plan) -> None:
    [rule] = named(prod_plan, "fraud-scorer-allow-callers").inputs["spec"]["ingress"]
    [source] = rule["from"]
    assert source == {
        "namespaceSelector": {
            "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["payments"]}]
        }
    }
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]


def test_a_model_with_no_allowed_callers_gets_no_ingress_rule() -> None:
    plan = synthesize("dev", overrides={"hybrid-ai-platform:inference": {"models": [DEV_MODEL]}})
    names = {r.name for r in of_type(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    assert "fraud-scorer-default-deny" in names
    assert "fraud-scorer-allow-callers" not in names


def test_egress_is_limited_to_dns_the_pod_identity_agent_the_metrics_agent_and_public_https(prod_plan: Plan) -> None:
    egress = named(prod_plan, "fraud-scorer-allow-egress").inputs["spec"]["egress"]
    dns, agent, emf, https = egress
    # the CloudWatch agent is a host-network DaemonSet: only an ipBlock of the nodes' range reaches it
    assert emf == {"to": [{"ipBlock": {"cidr": "10.42.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 25888}]}
    assert named(prod_plan, "network-vpc").inputs["cidrBlock"] == "10.42.0.0/16"
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert {p["port"] for p in dns["ports"]} == {53}
    assert agent == {"to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}], "ports": [{"protocol": "TCP", "port": 80}]}
    assert https["ports"] == [{"protocol": "TCP", "port": 443}]
    assert "10.0.0.0/8" in https["to"][0]["ipBlock"]["except"]


# Bootstrap: workloads wait for their image and model version -------------------------------------


def _waiting_messages(plan: Plan) -> list[str]:
    """The program's ``pulumi.log.warn`` messages about unpublished artifacts."""
    return [w for w in plan.warnings if "not published" in w]


def test_a_fresh_account_gets_repository_namespace_identity_and_policies_but_no_workloads() -> None:
    # GIVEN a fresh account: no ECR repository, no image, no model version
    plan = synthesize("dev", account=FRESH_ACCOUNT)
    # THEN nothing that waits for readiness is registered: no Deployment, Service, HPA, PDB, CronJob
    assert all(not of_type(plan, t) for t in WORKLOAD_TYPES)
    assert not [r for r in plan.resources if r.name.startswith("nightly-fraud-scores")]
    # AND what the artifacts are published into, and what serves them later, is created now
    for name in ("fraud-scorer-repository", "fraud-scorer-namespace", "fraud-scorer-service-account",
                 "fraud-scorer-identity-role", "fraud-scorer-default-deny", "fraud-scorer-allow-egress"):  # fmt: skip
        named(plan, name)
    # AND the repository records the registry bucket and that nothing serves yet
    repository = named(plan, "fraud-scorer-repository")
    assert repository.inputs["tags"]["serving"] == "false"
    assert repository.inputs["tags"]["model-registry-bucket"] == plan.outputs["model_registry_bucket"]
    assert depends_via(repository, "tags", named(plan, "model-registry-bucket"))
    # AND the program says exactly what to publish where, then to deploy again
    [message] = _waiting_messages(plan)
    assert f"docker push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/{DEV_REPOSITORY}:1.4.0" in message
    assert 'aws s3 cp model.onnx "$(pulumi stack output model_registry_uri)/fraud-scorer/3/model.onnx"' in message
    assert "pulumi up" in message and "nightly-fraud-scores" in message


def test_published_artifacts_create_the_workloads_and_mark_the_repository_serving(dev_plan: Plan) -> None:
    # GIVEN the default account state: image and model version published (the dev plan)
    assert not _waiting_messages(dev_plan)
    for name in (*DEFERRED, "nightly-fraud-scores-cronjob"):
        named(dev_plan, name)
    assert named(dev_plan, "fraud-scorer-repository").inputs["tags"]["serving"] == "true"


def test_a_published_image_without_its_model_version_still_waits_and_names_the_bucket() -> None:
    # GIVEN a repository from an earlier update, with the image pushed but no model version
    account = AccountState(serving=False, unpublished=frozenset({"models/fraud-scorer/3/model.onnx"}))
    plan = synthesize("dev", account=account)
    # THEN the workloads still wait, and the message names the real bucket and only the model
    assert not of_type(plan, "kubernetes:apps/v1:Deployment")
    [message] = _waiting_messages(plan)
    bucket = plan.outputs["model_registry_bucket"]
    assert f"aws s3 cp model.onnx s3://{bucket}/models/fraud-scorer/3/model.onnx" in message
    assert "docker push" not in message


def test_an_image_override_is_not_looked_up_in_the_stacks_repository() -> None:
    # GIVEN an external image and a stack repository that does not hold image_tag
    external = "registry.example.com/ml/fraud-scorer:2.0.0"
    account = AccountState(serving=False, unpublished=frozenset({f"{DEV_REPOSITORY}:1.4.0"}))
    plan = synthesize(
        "dev",
        overrides={"hybrid-ai-platform:inference": {"models": [{**DEV_MODEL, "image": external}]}},
        account=account,
    )
    # THEN the workload is created with the external image (only the model version is checked)
    assert _container(plan, "fraud-scorer")["image"] == external


def test_a_serving_model_whose_image_is_gone_stops_the_update_instead_of_deleting_it() -> None:
    # GIVEN a model already serving whose pinned tag is no longer in its repository
    account = AccountState(unpublished=frozenset({f"{DEV_REPOSITORY}:1.4.0"}))
    # THEN the update fails, saying what to publish, rather than deleting the running Deployment
    with pytest.raises(ArtifactCheckError, match=rf"docker push .*/{DEV_REPOSITORY}:1\.4\.0"):
        synthesize("dev", account=account)


def test_a_lookup_failing_for_another_reason_stops_the_update(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the repository look-up is denied (not "not found")
    def denied(**_: object) -> None:
        raise Exception("invoke of aws:ecr/getRepository:getRepository failed: AccessDeniedException: no")

    monkeypatch.setattr(inference_service.aws.ecr, "get_repository", denied)
    # THEN the update stops with the error instead of treating the model as unpublished
    with pytest.raises(ArtifactCheckError, match="AccessDeniedException"):
        synthesize("dev")


@pytest.mark.parametrize(
    "message",
    [
        "reading S3 Bucket (model-registry): NoSuchBucket: The specified bucket does not exist",
        "operation error ECR: DescribeImages, ThrottlingException: Rate exceeded (NotFound later?)",
    ],
)
def test_an_object_lookup_error_that_is_not_a_missing_key_stops_the_update(
    monkeypatch: pytest.MonkeyPatch, message: str
) -> None:
    # GIVEN the model-version look-up fails for a reason other than a missing key (a wrong bucket,
    # throttling), even if its text contains a word like "NotFound"
    def failing(**_: object) -> None:
        raise Exception(f"invoke of aws:s3/getObject:getObject failed: {message}")

    monkeypatch.setattr(inference_service.aws.s3, "get_object", failing)
    # THEN the update stops instead of deferring the workloads as "not published"
    with pytest.raises(ArtifactCheckError, match="cannot look up s3://"):
        synthesize("dev")


# Network policies: metrics scraper and client namespaces ------------------------------------------


def test_the_metrics_scraper_may_reach_the_serving_port(any_stack_plan: Plan) -> None:
    for deny in [r for r in any_stack_plan.resources if r.name.endswith("-default-deny")]:
        model = deny.inputs["metadata"]["namespace"]
        policy = named(any_stack_plan, f"{model}-allow-metrics-scraper").inputs["spec"]
        assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == model
        [rule] = policy["ingress"]
        assert rule["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "amazon-cloudwatch"}}}
        ]
        assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert METRICS_SCRAPER_NAMESPACE == "amazon-cloudwatch"


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_dev_and_staging_have_a_client_namespace_that_may_call_the_endpoint(stack: str) -> None:
    # GIVEN the stack's own endpoint output
    plan = shipped_plan(stack)
    endpoint = plan.outputs["inference_endpoints"]["fraud-scorer"]
    # THEN the documented client namespace may reach that port
    [rule] = named(plan, "fraud-scorer-allow-callers").inputs["spec"]["ingress"]
    [source] = rule["from"]
    assert "inference-clients" in source["namespaceSelector"]["matchExpressions"][0]["values"]
    assert rule["ports"] == [{"protocol": "TCP", "port": int(endpoint.rsplit(":", 1)[1])}]


def test_the_program_looks_up_every_models_artifacts_before_declaring_the_platform(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the number of resources the program had registered at each artifact look-up of prod
    from hybrid_ai_platform.cli import mocks

    registered: list[str] = []
    at_lookup: list[int] = []
    new_resource, call = mocks.PlanMocks.new_resource, mocks.PlanMocks.call

    def recording_new(self: mocks.PlanMocks, args: Any) -> Any:
        registered.append(args.typ)
        return new_resource(self, args)

    def recording_call(self: mocks.PlanMocks, args: Any) -> Any:
        if args.token.startswith(("aws:ecr/", "aws:s3/getObject")):
            at_lookup.append(len(registered))
        return call(self, args)

    monkeypatch.setattr(mocks.PlanMocks, "new_resource", recording_new)
    monkeypatch.setattr(mocks.PlanMocks, "call", recording_call)
    plan = synthesize("prod")
    # THEN every look-up (repository, image, model object of both models) came before anything but the AWS
    # provider was declared: a direct-form invoke pads the event loop's ready queue back to its length, so
    # looked up after the data plane they cost in proportion to what is declared
    assert len(at_lookup) == 3 * len(MODELS)
    assert max(at_lookup) <= registered.count("pulumi:providers:aws")
    # AND the services use what was looked up: both are published in the steady state
    assert {r.name for r in plan.resources if r.name in {f"{m}-deployment" for m in MODELS}} == {
        f"{m}-deployment" for m in MODELS
    }
