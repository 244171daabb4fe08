"""What operators rely on in deploy/: the OpenShift Template, the Containerfile, the App manifest.

The template is checked as `oc process -f deploy/openshift.yaml -p ... | oc apply -f -` would
use it: `process` below substitutes the parameters as `oc process` does.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.advisers.local.remote import CREDENTIALS, RESOLVER_ACL
from bot.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
TEMPLATE = DEPLOY / "openshift.yaml"
IMAGE = "quay.io/example/thoth-bot:0.1.0"

# As openshift/library-go's template processing: a string that is exactly `${{X}}` becomes X's
# value read as JSON (a number, a boolean); `${X}` is replaced inside any string.
NON_STRING = re.compile(r"^\$\{\{([a-zA-Z0-9_]+)\}\}$")
STRING = re.compile(r"\$\{([a-zA-Z0-9_]+?)\}")
REFERENCE = re.compile(r"\$\{\{?([a-zA-Z0-9_]+)\}\}?")

LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component")

# Environment variable -> key of the operator's Secret (SECRET_NAME).
SECRET_KEYS = {
    "GITHUB_APP_ID": "github-app-id",
    "GITHUB_PRIVATE_KEY": "github-private-key",
    "GITHUB_WEBHOOK_SECRET": "github-webhook-secret",
    "GITLAB_TOKEN": "gitlab-token",
    "GITLAB_WEBHOOK_SECRET": "gitlab-webhook-secret",
    "GITLAB_WEBHOOK_SIGNING_TOKEN": "gitlab-webhook-signing-token",
    "GITLAB_SYSTEM_HOOK_SECRET": "gitlab-system-hook-secret",
    "THOTH_TOKEN": "thoth-token",
    "REDIS_PASSWORD": "redis-password",  # for $(REDIS_PASSWORD) in REDIS_URL
}

DISTRIBUTED = {
    "REDIS_URL": "redis://:$(REDIS_PASSWORD)@thoth-bot-redis:6379/0",
    "REDIS_REPLICAS": "1",
    "WORKER_REPLICAS": "3",
    "RESOLVER_REPLICAS": "2",
}


class ProcessError(Exception):
    pass


def load_template() -> dict[str, Any]:
    return yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))


def process(template: dict[str, Any], **parameters: str) -> list[dict[str, Any]]:
    """The template's objects with `-p NAME=VALUE` for each of `parameters`, as `oc process`."""
    values: dict[str, str] = {}
    for parameter in template["parameters"]:
        name = parameter["name"]
        value = parameters.pop(name, parameter.get("value", ""))
        if parameter.get("required") and value == "":
            raise ProcessError(f"parameter {name} is required and must be specified")
        values[name] = value
    if parameters:
        raise ProcessError(f"unknown parameter name(s): {sorted(parameters)}")

    def replace(text: str) -> str:
        return STRING.sub(lambda match: values.get(match.group(1), match.group(0)), text)

    def substitute(text: str) -> Any:
        whole = NON_STRING.match(text)
        if whole and whole.group(1) in values:
            return json.loads(values[whole.group(1)])
        return replace(text)

    def visit(node: Any) -> Any:
        if isinstance(node, dict):
            return {replace(key): visit(value) for key, value in node.items()}
        if isinstance(node, list):
            return [visit(item) for item in node]
        if isinstance(node, str):
            return substitute(node)
        return node

    return [visit(item) for item in template["objects"]]


def strings(node: Any) -> Iterator[str]:
    """Every string of `node`, keys included."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    """name -> value, or name -> valueFrom."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(deployment)["env"]}


def defaults() -> list[dict[str, Any]]:
    return process(load_template(), IMAGE=IMAGE)


def deployments(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "Deployment"]


# The template.


def test_template_is_an_openshift_template():
    template = load_template()
    assert template["apiVersion"] == "template.openshift.io/v1"
    assert template["kind"] == "Template"
    assert template["objects"]


def test_every_parameter_referenced_is_declared_and_every_declared_one_is_used():
    template = load_template()
    declared = [p["name"] for p in template["parameters"]]
    assert len(declared) == len(set(declared)), "a parameter is declared twice"
    outside = {key: value for key, value in template.items() if key != "parameters"}
    referenced = {m for text in strings(outside) for m in REFERENCE.findall(text)}
    assert referenced - set(declared) == set(), "referenced but not declared"
    assert set(declared) - referenced == set(), "declared but never used"
    assert {
        "NAME",
        "IMAGE",
        "ROUTE_HOST",
        "SECRET_NAME",
        "GITHUB_API_URL",
        "GITLAB_URL",
        "THOTH_HOST",
        "REDIS_URL",
        "WEB_REPLICAS",
        "WORKER_REPLICAS",
        "REDIS_REPLICAS",
        "STATE_VOLUME_SIZE",
    } <= set(declared)


def test_parameters_are_described_with_string_defaults():
    parameters = {p["name"]: p for p in load_template()["parameters"]}
    for name, parameter in parameters.items():
        assert parameter.get("description"), f"{name} has no description"
        assert isinstance(parameter.get("value", ""), str), f"{name}'s value is not a string"
    values = {name: parameter.get("value") for name, parameter in parameters.items()}
    assert values["NAME"] == "thoth-bot"
    assert values["SECRET_NAME"] == "thoth-bot"
    assert values["GITHUB_API_URL"] == "https://api.github.com"
    assert values["GITLAB_URL"] == "https://gitlab.com"
    assert values["THOTH_HOST"] == "" and values["REDIS_URL"] == "" and values["ROUTE_HOST"] == ""
    assert (values["WEB_REPLICAS"], values["WORKER_REPLICAS"], values["REDIS_REPLICAS"]) == (
        "1",
        "0",
        "0",
    )
    assert values["STATE_VOLUME_SIZE"] == "1Gi"
    assert parameters["IMAGE"].get("required") is True
    assert parameters["NAME"].get("required") is True


def test_integer_fields_take_parameters_in_the_non_string_form():
    template = load_template()
    for deployment in deployments(template["objects"]):
        assert NON_STRING.match(deployment["spec"]["replicas"]), deployment["metadata"]["name"]
    # `${{X}}` only works as a whole string: inside a longer one `oc process` leaves it as is.
    for text in strings(template["objects"]):
        assert "${{" not in text or NON_STRING.match(text), text


def test_image_must_be_given():
    with pytest.raises(ProcessError, match="IMAGE"):
        process(load_template())


def test_defaults_process_into_valid_yaml_with_integer_replicas():
    objects = defaults()
    listed = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects})
    assert yaml.safe_load(listed)["items"] == objects
    assert not [text for text in strings(objects) if REFERENCE.search(text)]
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in deployments(objects)}
    assert replicas == {
        "thoth-bot-web": 1,
        "thoth-bot-worker": 0,
        "thoth-bot-resolver": 0,
        "thoth-bot-redis": 0,
    }
    assert all(type(count) is int for count in replicas.values())
    state = find(objects, "PersistentVolumeClaim", "thoth-bot-state")
    assert state["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert find(objects, "Route", "thoth-bot")["spec"]["host"] == ""


def test_the_objects_operators_rely_on():
    kinds = {(o["kind"], o["metadata"]["name"]) for o in defaults()}
    assert {
        ("ConfigMap", "thoth-bot-config"),
        ("PersistentVolumeClaim", "thoth-bot-state"),
        ("PersistentVolumeClaim", "thoth-bot-redis-data"),
        ("Deployment", "thoth-bot-web"),
        ("Deployment", "thoth-bot-worker"),
        ("Deployment", "thoth-bot-redis"),
        ("Deployment", "thoth-bot-resolver"),
        ("Service", "thoth-bot-redis"),
        ("Service", "thoth-bot"),
        ("Route", "thoth-bot"),
    } <= kinds


def test_everything_is_labelled_and_selectors_match_their_pods():
    objects = process(load_template(), IMAGE=IMAGE, NAME="bot-a")
    for item in objects:
        labels = item["metadata"].get("labels", {})
        where = f"{item['kind']} {item['metadata']['name']}"
        assert set(LABELS) <= set(labels), where
        assert labels["app.kubernetes.io/name"] == "thoth-bot", where
        assert labels["app.kubernetes.io/instance"] == "bot-a", where
        components = ("web", "worker", "resolver", "redis")
        assert labels["app.kubernetes.io/component"] in components, where
    pods = {}
    for deployment in deployments(objects):
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels.items()
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        assert pod_labels["app.kubernetes.io/component"] == component
        pods[deployment["metadata"]["name"]] = pod_labels
    selected = {
        service["metadata"]["name"]: [
            name
            for name, labels in pods.items()
            if service["spec"]["selector"].items() <= labels.items()
        ]
        for service in objects
        if service["kind"] == "Service"
    }
    assert selected == {
        "bot-a": ["bot-a-web"],
        "bot-a-redis": ["bot-a-redis"],
        "bot-a-worker-metrics": ["bot-a-worker"],
    }


def test_web_serves_with_probes_on_its_port():
    objects = defaults()
    web = find(objects, "Deployment", "thoth-bot-web")
    assert web["spec"]["strategy"]["type"] == "Recreate"
    main = container(web)
    assert main["image"] == IMAGE
    assert main["command"] == ["thoth-bot", "serve"]
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {"http": 8080}
    assert env_of(web)["PORT"] == "8080"
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = main[probe]["httpGet"]
        assert get["path"] == path
        assert ports.get(get["port"], get["port"]) == 8080
    service = find(objects, "Service", "thoth-bot")
    [port] = service["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("http", 8080, "http")
    assert service["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8080",
        "prometheus.io/path": "/metrics",
    }


def test_worker_runs_jobs_and_serves_metrics():
    objects = defaults()
    worker = find(objects, "Deployment", "thoth-bot-worker")
    main = container(worker)
    assert main["image"] == IMAGE
    assert main["command"] == ["thoth-bot", "worker"]
    assert {p["name"]: p["containerPort"] for p in main["ports"]} == {"metrics": 8081}
    assert env_of(worker)["METRICS_PORT"] == "8081"
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    volumes = {v["name"]: v for v in worker["spec"]["template"]["spec"]["volumes"]}
    assert volumes["state"] == {"name": "state", "emptyDir": {}}
    metrics = find(objects, "Service", "thoth-bot-worker-metrics")
    assert metrics["spec"]["clusterIP"] == "None"
    assert metrics["spec"]["ports"][0]["targetPort"] == "metrics"


def test_web_and_worker_read_the_same_configuration():
    objects = defaults()
    web = find(objects, "Deployment", "thoth-bot-web")
    worker = find(objects, "Deployment", "thoth-bot-worker")
    for deployment in (web, worker):
        env = env_of(deployment)
        assert env["THOTH_BOT_CONFIG"] == "/etc/thoth-bot/config.yaml"
        assert env["THOTH_BOT_STATE_DIR"] == "/opt/app-root/state"
        assert env["THOTH_BOT_LOG_FORMAT"] == "json"
        assert env["GITHUB_API_URL"] == "https://api.github.com"
        assert env["GITLAB_URL"] == "https://gitlab.com"
        assert env["THOTH_HOST"] == "" and env["REDIS_URL"] == ""
        mounts = {m["mountPath"]: m["name"] for m in container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes[mounts["/etc/thoth-bot"]]["configMap"]["name"] == "thoth-bot-config"
        assert mounts["/opt/app-root/state"] == "state"
    web_volumes = {v["name"]: v for v in web["spec"]["template"]["spec"]["volumes"]}
    assert web_volumes["state"]["persistentVolumeClaim"] == {"claimName": "thoth-bot-state"}
    state = find(objects, "PersistentVolumeClaim", "thoth-bot-state")
    assert state["spec"]["accessModes"] == ["ReadWriteOnce"]
    shared = {name for name in env_of(web) if name not in ("PORT",)}
    assert shared == {name for name in env_of(worker) if name not in ("METRICS_PORT",)}


def test_secrets_come_from_the_operators_secret_and_each_is_optional():
    template = load_template()
    for deployment in deployments(template["objects"]):
        name = deployment["metadata"]["name"]
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for c in deployment["spec"]["template"]["spec"]["containers"]
            for e in c.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        if name == "${NAME}-redis":  # the passwords of its two users, required where it runs
            assert {env: (ref["name"], ref["key"]) for env, ref in refs.items()} == {
                "REDIS_PASSWORD": ("${SECRET_NAME}", "redis-password"),
                "RESOLVER_REDIS_PASSWORD": ("${RESOLVER_SECRET_NAME}", "redis-password"),
            }
            continue
        if name == "${NAME}-resolver":  # no credential: its own Secret, its Redis password
            assert {env: (ref["name"], ref["key"]) for env, ref in refs.items()} == {
                "RESOLVER_REDIS_PASSWORD": ("${RESOLVER_SECRET_NAME}", "redis-password"),
            }
            continue
        assert {env: ref["key"] for env, ref in refs.items()} == SECRET_KEYS, name
        for env, ref in refs.items():
            assert ref["name"] == "${SECRET_NAME}", f"{name} {env}"
            assert ref["optional"] is True, f"{name} {env}"
    processed = process(template, IMAGE=IMAGE, SECRET_NAME="bot-credentials")
    web = env_of(find(processed, "Deployment", "thoth-bot-web"))
    assert web["GITHUB_PRIVATE_KEY"]["secretKeyRef"]["name"] == "bot-credentials"


def test_the_header_secret_command_creates_every_key():
    header = TEMPLATE.read_text(encoding="utf-8").split("\napiVersion:", 1)[0]
    command = re.search(r"oc create secret generic thoth-bot((?:.*\\\n)+.*)", header)
    assert command, "the header shows no `oc create secret generic thoth-bot` command"
    keys = re.findall(r"--from-(?:literal|file)=([a-z0-9-]+)=", command.group(1))
    assert sorted(keys) == sorted(SECRET_KEYS.values())


def test_containers_run_with_the_restricted_security_context():
    for deployment in deployments(defaults()):
        pod = deployment["spec"]["template"]["spec"]
        name = deployment["metadata"]["name"]
        assert pod["enableServiceLinks"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert "runAsUser" not in pod["securityContext"], name
        for item in pod["containers"]:
            context = item["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert "runAsUser" not in context and "privileged" not in context, name


def test_config_map_is_a_configuration_the_bot_loads(tmp_path):
    config = find(defaults(), "ConfigMap", "thoth-bot-config")
    path = tmp_path / "config.yaml"
    path.write_text(config["data"]["config.yaml"], encoding="utf-8")
    settings = load_settings(path, env={})
    assert settings.default_node_class == "cpu-x86-64-v3"
    assert set(settings.node_classes) == {"cpu-x86-64-v3", "gpu-a100"}
    gpu = settings.node_classes["gpu-a100"]
    assert gpu.hardware.gpu_model == "NVIDIA A100-SXM4-40GB"
    assert (gpu.cuda_version, gpu.cudnn_version) == ("12.2", "8.9")
    assert dict(gpu.node_selector) == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"}
    cpu = settings.node_classes["cpu-x86-64-v3"]
    assert cpu.hardware.cpu_flags == ("avx", "avx2", "avx512f") and cpu.hardware.gpu_model is None
    assert dict(cpu.node_selector) == {"node.kubernetes.io/instance-type": "m5.2xlarge"}
    assert settings.lock_labels == ("thoth", "dependencies")
    assert settings.cache_ttl == 3 * 3600


def test_distributed_mode_reaches_the_templates_redis():
    objects = process(load_template(), IMAGE=IMAGE, **DISTRIBUTED)
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in deployments(objects)}
    assert replicas == {
        "thoth-bot-web": 1,
        "thoth-bot-worker": 3,
        "thoth-bot-resolver": 2,
        "thoth-bot-redis": 1,
    }
    for name in ("thoth-bot-web", "thoth-bot-worker"):
        assert env_of(find(objects, "Deployment", name))["REDIS_URL"] == DISTRIBUTED["REDIS_URL"]
    host, port = re.match(r"redis://[^@]*@([^:/]+):(\d+)/", DISTRIBUTED["REDIS_URL"]).groups()
    service = find(objects, "Service", host)
    assert service["spec"]["ports"][0]["port"] == int(port)
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "redis"
    # The REDIS_URL the parameter's description and the header give is this one.
    template_text = TEMPLATE.read_text(encoding="utf-8")
    shown = "-p REDIS_URL='redis://:$(REDIS_PASSWORD)@thoth-bot-redis:6379/0' -p REDIS_REPLICAS=1"
    assert shown in template_text


def test_redis_acknowledges_only_what_is_on_disk():
    objects = defaults()
    redis = find(objects, "Deployment", "thoth-bot-redis")
    assert redis["spec"]["strategy"]["type"] == "Recreate"
    main = container(redis)
    args = main["args"]
    assert args[0] == "run-redis"
    user = args.index("--user")
    options = dict(zip(args[1:user:2], args[2:user:2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "always"
    assert options["--maxmemory-policy"] == "noeviction"
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert mounts["data"] == options["--dir"]
    [volume] = redis["spec"]["template"]["spec"]["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == "thoth-bot-redis-data"
    claim = find(objects, "PersistentVolumeClaim", "thoth-bot-redis-data")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert {p["name"]: p["containerPort"] for p in main["ports"]} == {"redis": 6379}
    service = find(objects, "Service", "thoth-bot-redis")
    assert service["spec"]["ports"][0]["targetPort"] == "redis"
    policy = find(objects, "NetworkPolicy", "thoth-bot-redis")
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "redis"
    [rule] = policy["spec"]["ingress"]
    expressions = {
        e["key"]: e["values"] for e in rule["from"][0]["podSelector"]["matchExpressions"]
    }
    assert expressions == {
        "app.kubernetes.io/instance": ["thoth-bot"],
        "app.kubernetes.io/component": ["web", "worker", "resolver"],
    }


def test_the_resolver_holds_no_credential_and_its_redis_user_only_its_keys():
    """SPEC §10: resolutions run where no forge credential, Thoth token or webhook secret is."""
    objects = process(load_template(), IMAGE=IMAGE, **DISTRIBUTED)
    resolver = find(objects, "Deployment", "thoth-bot-resolver")
    pod = resolver["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert container(resolver)["command"] == ["thoth-bot", "resolver"]
    env = env_of(resolver)
    assert not set(env) & set(CREDENTIALS) and "GITHUB_APP_ID" not in env
    assert env["REDIS_URL"] == "redis://resolver:$(RESOLVER_REDIS_PASSWORD)@thoth-bot-redis:6379/0"
    assert [v for v in pod["volumes"] if "secret" in v] == []
    args = container(find(objects, "Deployment", "thoth-bot-redis"))["args"]
    user = args[args.index("--user") + 1 :]
    assert user[:3] == ["resolver", "on", ">$(RESOLVER_REDIS_PASSWORD)"]
    assert " ".join(user[3:]) == RESOLVER_ACL  # the rule the resolver tests run Redis with


def test_route_terminates_tls_and_redirects_http():
    objects = process(load_template(), IMAGE=IMAGE, ROUTE_HOST="thoth-bot.apps.example.com")
    route = find(objects, "Route", "thoth-bot")
    assert route["apiVersion"] == "route.openshift.io/v1"
    assert route["spec"]["host"] == "thoth-bot.apps.example.com"
    assert route["spec"]["to"]["kind"] == "Service" and route["spec"]["to"]["name"] == "thoth-bot"
    assert route["spec"]["port"]["targetPort"] == "http"
    assert route["spec"]["tls"] == {
        "termination": "edge",
        "insecureEdgeTerminationPolicy": "Redirect",
    }


# The GitHub App manifest.


def test_github_app_asks_for_the_least_it_needs():
    manifest = yaml.safe_load((DEPLOY / "github-app.yml").read_text(encoding="utf-8"))
    assert manifest["default_permissions"] == {
        "contents": "write",
        "pull_requests": "write",
        "issues": "write",
        "checks": "write",
        "statuses": "write",
        "metadata": "read",
    }
    events = manifest["default_events"]
    assert sorted(events) == ["check_run", "check_suite", "issue_comment", "pull_request", "push"]
    assert manifest["hook_attributes"]["url"].endswith("/webhooks/github")
    assert manifest["hook_attributes"]["active"] is True
    assert manifest["public"] is False


# The Containerfile.


def containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments left out."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Containerfile").read_text(encoding="utf-8"))
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            instructions.append((word.upper(), rest.strip()))
    return instructions


def test_containerfile_builds_one_non_root_image_for_web_and_worker():
    instructions = containerfile()
    [base] = [rest for word, rest in instructions if word == "FROM"]
    assert base.split(":")[0] == "registry.access.redhat.com/ubi9/python-311"
    user = [rest for word, rest in instructions if word == "USER"][-1]
    assert user.split(":")[0] not in ("0", "root")
    assert user.split(":")[0].isdigit(), "a numeric USER, so that runAsNonRoot can verify it"
    assert [json.loads(rest) for word, rest in instructions if word == "CMD"] == [
        ["thoth-bot", "serve"]
    ]
    assert [rest for word, rest in instructions if word == "EXPOSE"] == ["8080"]
    env = dict(
        item.split("=", 1)
        for word, rest in instructions
        if word == "ENV"
        for item in shlex.split(rest)
    )
    assert env["THOTH_BOT_LOG_FORMAT"] == "json"
    assert env["PORT"] == "8080"
    web = env_of(find(defaults(), "Deployment", "thoth-bot-web"))
    assert env["THOTH_BOT_STATE_DIR"] == web["THOTH_BOT_STATE_DIR"]
    run = " ".join(rest for word, rest in instructions if word == "RUN")
    extras = re.search(r"pip install [^&]*?'?\.\[([a-z0-9,_-]+)\]'?", run)
    assert extras, "the package is not pip-installed"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "distributed" in extras.group(1).split(",")
    assert "distributed" in pyproject["project"]["optional-dependencies"]
    assert f"chmod -R g+rwX {env['THOTH_BOT_STATE_DIR']}" in run
    for word, rest in instructions:
        if word == "HEALTHCHECK":
            assert "curl" not in rest
