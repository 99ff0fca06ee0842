"""The deployment files in deploy/: Kubernetes manifests, Helm chart, OCI image.

Manifests and the rendered chart are validated against the Kubernetes schemas with
``kubernetes-validate`` (strict: unknown fields fail). The chart's templates use plain value
substitution only, rendered here without helm (and with ``helm template`` too when helm is
installed). The image is built and run only where a container runtime answers.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
CHART = DEPLOY / "helm" / "hepinfer"
K8S_VERSION = "1.30.0"
#: SuperSONIC's autoscaling signal: mean queue time per request, ms, over 30 s
QUEUE_TIME = re.compile(
    r"sum\(rate\(nv_inference_queue_duration_us.*\[30s\]\)\) / "
    r"\(sum\(rate\(nv_inference_exec_count.*\[30s\]\)\) \* 1000\)"
)


def _documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def _validate(documents: list[dict[str, Any]]) -> None:
    for doc in documents:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def render_chart(chart: Path, release: str, overrides: dict[str, Any] | None = None) -> str:
    """The chart's templates with ``{{ .Values.x.y }}`` and ``{{ .Release.Name }}`` filled in."""
    values = yaml.safe_load((chart / "values.yaml").read_text())
    for key, value in (overrides or {}).items():
        node = values
        *path, last = key.split(".")
        for part in path:
            node = node[part]
        node[last] = value

    def lookup(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression == ".Release.Name":
            return release
        if not expression.startswith(".Values."):
            msg = f"template expression {{{{ {expression} }}}} is not a plain value"
            raise AssertionError(msg)
        node: Any = values
        for part in expression.removeprefix(".Values.").split("."):
            node = node[part]
        return str(node)

    texts = [
        re.sub(r"\{\{\s*([^}]*?)\s*\}\}", lookup, t.read_text())
        for t in sorted((chart / "templates").glob("*.yaml"))
    ]
    return "\n---\n".join(texts)


def test_there_are_manifests_for_servers_proxy_and_autoscaling() -> None:
    kinds = {
        (d["kind"], d["metadata"]["name"]) for m in MANIFESTS for d in _documents(m.read_text())
    }
    assert ("Deployment", "hepinfer-server") in kinds
    assert ("Service", "hepinfer-server") in kinds
    assert ("Deployment", "hepinfer-proxy") in kinds
    assert ("HorizontalPodAutoscaler", "hepinfer-server") in kinds


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.name)
def test_manifests_pass_kubernetes_schema_validation(manifest: Path) -> None:
    _validate(_documents(manifest.read_text()))


def test_validation_catches_a_broken_manifest() -> None:
    (doc, *_) = [
        d
        for d in _documents((DEPLOY / "kubernetes" / "server.yaml").read_text())
        if d["kind"] == "Deployment"
    ]
    doc["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate([doc])
    doc["spec"]["replicas"] = 2
    doc["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate([doc])


def _by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind]


def _check_wiring(documents: list[dict[str, Any]], release: str) -> None:
    """The pieces refer to each other: proxy -> headless server Service, HPA -> metric rule."""
    server = next(
        d for d in _by_kind(documents, "Deployment") if d["metadata"]["name"].endswith("-server")
    )
    container = server["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    annotations = server["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    service = next(
        d for d in _by_kind(documents, "Service") if d["metadata"]["name"] == f"{release}-server"
    )
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == server["spec"]["selector"]["matchLabels"]
    configmaps = {d["metadata"]["name"]: d for d in _by_kind(documents, "ConfigMap")}
    envoy = yaml.safe_load(configmaps[f"{release}-proxy"]["data"]["envoy.yaml"])
    (cluster,) = envoy["static_resources"]["clusters"]
    assert cluster["lb_policy"] == "LEAST_REQUEST"
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"]["address"] == f"{release}-server"
    (hpa,) = _by_kind(documents, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == server["metadata"]["name"]
    metric = hpa["spec"]["metrics"][0]["external"]["metric"]["name"]
    adapter = yaml.safe_load(configmaps[f"{release}-prometheus-adapter"]["data"]["config.yaml"])
    (rule,) = adapter["externalRules"]
    assert rule["name"]["as"] == metric
    assert QUEUE_TIME.search(rule["metricsQuery"].replace("{<<.LabelMatchers>>}", ""))


def test_manifests_are_wired_together() -> None:
    _check_wiring([d for m in MANIFESTS for d in _documents(m.read_text())], "hepinfer")


def test_chart_renders_valid_manifests_with_its_values() -> None:
    documents = _documents(render_chart(CHART, "sonic", {"server.replicas": 4, "image.tag": "v1"}))
    _validate(documents)
    _check_wiring(documents, "sonic")
    server = next(
        d for d in _by_kind(documents, "Deployment") if d["metadata"]["name"] == "sonic-server"
    )
    assert server["spec"]["replicas"] == 4
    assert server["spec"]["template"]["spec"]["containers"][0]["image"] == "hepinfer:v1"


def test_chart_defaults_render_the_plain_manifests() -> None:
    rendered = _documents(render_chart(CHART, "hepinfer"))
    plain = [d for m in MANIFESTS for d in _documents(m.read_text())]
    key = lambda d: (d["kind"], d["metadata"]["name"])
    assert sorted(rendered, key=key) == sorted(plain, key=key)


def test_helm_template_renders_valid_manifests(tmp_path: Path) -> None:
    helm = shutil.which("helm")
    if helm is None:
        pytest.skip(
            "helm is not installed here; the chart is rendered and validated without it above"
        )
    out = subprocess.run(
        [helm, "template", "sonic", str(CHART)], capture_output=True, text=True, check=True
    ).stdout
    documents = _documents(out)
    _validate(documents)
    _check_wiring(documents, "sonic")


def _instruction(text: str, name: str) -> list[str]:
    match = re.search(rf"^{name} (\[.*?\])$", text.replace("\\\n", ""), re.MULTILINE)
    assert match is not None, name
    words: list[str] = yaml.safe_load(match.group(1))
    return words


def test_image_runs_hepinfer_serve_and_kubernetes_gives_its_arguments() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert _instruction(text, "ENTRYPOINT") == ["hepinfer", "serve"]
    args = _instruction(text, "CMD")
    assert args[0] == "/models"
    assert args[args.index("--host") + 1] == "0.0.0.0"
    ports = {args[args.index(f"--{k}-port") + 1] for k in ("http", "grpc", "metrics")}
    assert ports == {"8000", "8001", "8002"}
    server = next(
        d
        for d in _documents((DEPLOY / "kubernetes" / "server.yaml").read_text())
        if d["kind"] == "Deployment"
    )
    container = server["spec"]["template"]["spec"]["containers"][0]
    pod_args = container["args"]
    assert pod_args[0] == "/models"
    assert pod_args[pod_args.index("--host") + 1] == "$(POD_IP)"
    assert {p["containerPort"] for p in container["ports"]} == {int(p) for p in ports}


BUILD_IMAGE = DEPLOY.parent / "scripts" / "build-image.sh"
SCALE_CONFIG = """
name: "scale"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [{ name: "INPUT0" data_type: TYPE_FP32 dims: [4] }]
output [{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [4] },
        { name: "OUTPUT1" data_type: TYPE_FP32 dims: [4] }]
"""


@pytest.mark.slow
def test_image_builds_and_serves(tmp_path: Path) -> None:
    """scripts/build-image.sh builds deploy/Dockerfile (from Debian packages and a wheelhouse
    where no registry or PyPI answers), and `hepinfer serve` in the image answers a real
    inference over HTTP on a model repository mounted at /models.
    """
    probe = subprocess.run(
        ["bash", str(BUILD_IMAGE), "--run-args"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if probe.returncode == 3:
        reason = probe.stderr.strip().splitlines()[-1]
        pytest.skip(f"the image is not built on this machine: {reason}")
    assert probe.returncode == 0, probe.stderr
    runtime, *run_args = probe.stdout.split()
    tag = "hepinfer:test"
    subprocess.run(["bash", str(BUILD_IMAGE), "-t", tag], check=True, timeout=1800)

    import numpy as np
    import tritonclient.http as httpclient

    from tests.peers_util import free_port
    from tests.serve.models import scale_model

    repo = tmp_path / "models"
    scale_model(repo / "scale" / "1" / "model.onnx", 2.0)
    (repo / "scale" / "config.pbtxt").write_text(SCALE_CONFIG)
    for path in (repo, *repo.rglob("*")):  # the image runs as uid 1000
        path.chmod(0o755 if path.is_dir() else 0o644)
    http, grpc, metrics = free_port(), free_port(), free_port()
    name = f"hepinfer-test-{http}"
    subprocess.run(
        [
            *(runtime, "run", "-d", "--rm", "--name", name, *run_args, "--network", "host"),
            *("-v", f"{repo}:/models:ro", tag, "/models", "--host", "127.0.0.1"),
            *("--http-port", str(http), "--grpc-port", str(grpc)),
            *("--metrics-port", str(metrics)),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    try:
        client = httpclient.InferenceServerClient(f"127.0.0.1:{http}")
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(Exception):  # not listening yet
                if client.is_server_ready() and client.is_model_ready("scale"):
                    break
            if time.monotonic() > deadline:
                logs = subprocess.run(
                    [runtime, "logs", name], capture_output=True, text=True, check=False
                )
                pytest.fail(f"no ready server in the container after 180 s:\n{logs.stderr}")
            time.sleep(1)
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        request = httpclient.InferInput("INPUT0", [2, 4], "FP32")
        request.set_data_from_numpy(x)
        result = client.infer("scale", [request])
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), 2 * x)
        np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), x + 1)
    finally:
        subprocess.run([runtime, "rm", "-f", name], capture_output=True, timeout=120, check=False)


KEDA = DEPLOY / "kubernetes" / "keda" / "scaledobject.yaml"


def _check_scaled_object(doc: dict[str, Any]) -> None:
    """KEDA's ScaledObject spec (keda.sh/v1alpha1), field by field: its CRD schema is not
    among kubernetes-validate's, so the fields KEDA requires and their types are checked here
    and the HPA behaviour it passes through is validated against the Kubernetes schema.
    """
    assert doc["apiVersion"] == "keda.sh/v1alpha1"
    assert doc["kind"] == "ScaledObject"
    spec = doc["spec"]
    known = {
        "scaleTargetRef", "minReplicaCount", "maxReplicaCount", "idleReplicaCount",
        "pollingInterval", "cooldownPeriod", "initialCooldownPeriod", "triggers", "advanced",
        "fallback",
    }  # fmt: skip
    assert set(spec) <= known, f"unknown ScaledObject fields {set(spec) - known}"
    assert isinstance(spec["scaleTargetRef"]["name"], str)
    for key in ("minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod"):
        assert isinstance(spec[key], int), key
        assert spec[key] >= 0, key
    assert spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert spec["triggers"], "a ScaledObject needs at least one trigger"
    for trigger in spec["triggers"]:
        assert isinstance(trigger["type"], str)
        metadata = trigger["metadata"]
        assert all(isinstance(v, str) for v in metadata.values()), "metadata values are strings"
        if trigger["type"] == "prometheus":
            assert {"serverAddress", "query", "threshold"} <= set(metadata)
            float(metadata["threshold"])
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "keda-behavior"},
        "spec": {
            "scaleTargetRef": spec["scaleTargetRef"],
            "maxReplicas": spec["maxReplicaCount"],
            "behavior": behavior,
        },
    }
    _validate([hpa])


def test_keda_scaled_object_follows_kedas_spec_and_the_hpa() -> None:
    (doc,) = _documents(KEDA.read_text())
    _check_scaled_object(doc)
    (trigger,) = doc["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert QUEUE_TIME.search(trigger["metadata"]["query"])
    plain = [d for m in MANIFESTS for d in _documents(m.read_text())]
    server = next(
        d for d in _by_kind(plain, "Deployment") if d["metadata"]["name"].endswith("-server")
    )
    assert doc["spec"]["scaleTargetRef"]["name"] == server["metadata"]["name"]
    (hpa,) = _by_kind(plain, "HorizontalPodAutoscaler")
    assert doc["spec"]["minReplicaCount"] == hpa["spec"]["minReplicas"]
    assert doc["spec"]["maxReplicaCount"] == hpa["spec"]["maxReplicas"]
    threshold = hpa["spec"]["metrics"][0]["external"]["target"]["value"]
    assert float(trigger["metadata"]["threshold"]) == float(threshold)
    behavior = doc["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior == hpa["spec"]["behavior"]


def test_keda_check_catches_a_broken_scaled_object() -> None:
    (doc,) = _documents(KEDA.read_text())
    broken = yaml.safe_load(yaml.safe_dump(doc))
    broken["spec"]["triggers"][0]["metadata"]["threshold"] = 10
    with pytest.raises(AssertionError):
        _check_scaled_object(broken)
    broken = yaml.safe_load(yaml.safe_dump(doc))
    broken["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"]["policies"][
        0
    ]["type"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        _check_scaled_object(broken)
    broken = yaml.safe_load(yaml.safe_dump(doc))
    broken["spec"]["maxReplica"] = 4
    with pytest.raises(AssertionError):
        _check_scaled_object(broken)
