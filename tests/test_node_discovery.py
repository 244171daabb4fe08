"""`thoth-bot node-classes discover` against a fake Kubernetes API on 127.0.0.1 serving Node
objects with Node Feature Discovery's and GPU Feature Discovery's labels (`fixtures/nodes/`):
three pools become three classes whose node selectors pick exactly their nodes; against an
operator's configuration, names are kept, drift and vanished classes are said."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fakes.github import FakeGitHub
from fakes.kubernetes import FakeKubernetes, pools
from harness import BotUnderTest, new_repo_name, pipfile
from test_push import push_and_settle

from bot.config import load_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cluster() -> Iterator[FakeKubernetes]:
    with FakeKubernetes(pools()) as fake:
        yield fake


def discover(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THOTH_BOT_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "node-classes",
            "discover",
            "--kubeconfig",
            str(kubeconfig),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def selected(selector: dict[str, str]) -> list[str]:
    return sorted(
        node["metadata"]["name"]
        for node in pools()
        if all(node["metadata"]["labels"].get(k) == v for k, v in selector.items())
    )


def test_three_pools_become_three_classes_with_exact_selectors(
    cluster: FakeKubernetes, tmp_path: Path
) -> None:
    written = tmp_path / "discovered.yaml"
    result = discover(cluster.kubeconfig(tmp_path / "kubeconfig"), "--write", str(written))

    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(written.read_text())
    classes = config["node_classes"]
    assert sorted(classes) == ["cpu-x86-64-v4", "gpu-a100-sxm4-40gb", "gpu-h100-80gb-hbm3"]
    assert config["default_node_class"] == "cpu-x86-64-v4"
    assert {name: selected(spec["node_selector"]) for name, spec in classes.items()} == {
        "cpu-x86-64-v4": ["cpu-avx512-1", "cpu-avx512-2", "cpu-avx512-3"],
        "gpu-a100-sxm4-40gb": ["gpu-a100-1", "gpu-a100-2"],
        "gpu-h100-80gb-hbm3": ["gpu-h100-1", "gpu-h100-2"],
    }
    a100 = classes["gpu-a100-sxm4-40gb"]
    assert a100["hardware"]["gpu_model"] == "NVIDIA A100-SXM4-40GB"
    assert (a100["cuda_driver_version"], a100["compute_capability"]) == ("535.104.05", "8.0")
    assert classes["gpu-h100-80gb-hbm3"]["cuda_driver_version"] == "570.86.15"
    cpu = classes["cpu-x86-64-v4"]
    assert {"avx", "avx2", "avx512f", "x86_64_v4"} <= set(cpu["hardware"]["cpu_flags"])
    assert (cpu["hardware"]["cpu_family"], cpu["platform"]) == (6, "linux-x86_64")
    assert "  # 2 nodes: gpu-a100-1, gpu-a100-2" in written.read_text()
    # What it writes is a configuration the bot loads (the builder image of the default class).
    settings = load_settings(written, env={})
    assert settings.node_classes["gpu-h100-80gb-hbm3"].python_version == "3.11"
    assert cluster.requests == ["/api/v1/nodes?limit=500"]


def test_against_a_configuration_names_are_kept_and_drift_and_vanished_classes_said(
    cluster: FakeKubernetes, tmp_path: Path
) -> None:
    base = yaml.safe_load((ROOT / "bot/data/default-config.yaml").read_text())
    a100 = copy.deepcopy(base["node_classes"]["gpu-a100"])
    a100["cuda_driver_version"] = "525.60.13"  # what the nodes ran before their upgrade
    base["node_classes"]["gpu-a100"] = a100
    base["node_classes"]["gpu-v100"] = {
        **copy.deepcopy(a100),
        "node_selector": {"nvidia.com/gpu.product": "Tesla-V100-SXM2-16GB"},
    }
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(base))

    result = discover(cluster.kubeconfig(tmp_path / "kubeconfig"), "--config", str(config))

    assert result.returncode == 0, result.stderr
    report = result.stderr.splitlines()
    assert "thoth-bot: gpu-a100: 2 nodes (kept)" in report
    assert "thoth-bot: gpu-a100: drifted: cuda_driver_version 525.60.13 -> 535.104.05" in report
    assert "thoth-bot: gpu-v100: no node matches its node_selector any more" in report
    assert "thoth-bot: cpu-x86-64-v3: no node matches its node_selector any more" in report
    assert "thoth-bot: gpu-h100-80gb-hbm3: 2 nodes (new)" in report
    discovered = yaml.safe_load(result.stdout)
    classes = discovered["node_classes"]
    assert classes["gpu-a100"]["cuda_driver_version"] == "535.104.05"
    assert classes["gpu-a100"]["node_selector"] == a100["node_selector"]  # the operators'
    assert "gpu-v100" in classes  # kept for the repositories that name it, and said
    assert discovered["lock"] == base["lock"]  # the rest of the configuration as it was


async def test_a_deleted_pool_becomes_a_problem_for_the_repository_that_names_it(
    cluster: FakeKubernetes, env: dict[str, str], github: FakeGitHub, tmp_path: Path
) -> None:
    base = yaml.safe_load((ROOT / "bot/data/default-config.yaml").read_text())
    h100 = copy.deepcopy(base["node_classes"]["gpu-a100"])
    h100["hardware"]["gpu_model"] = "NVIDIA H100"
    h100["node_selector"] = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    base["node_classes"]["gpu-h100"] = h100
    base["node_classes"]["cpu-x86-64-v3"]["node_selector"] = {
        "node.kubernetes.io/instance-type": "m6i.4xlarge"
    }
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")
    base["node_discovery"] = {"refresh": "1h", "grace": "0s", "kubeconfig": str(kubeconfig)}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(base))
    bot = await BotUnderTest.from_env({**env, "THOTH_BOT_CONFIG": str(config)}).start()
    try:
        refresher, executor = bot.bot.refresher, bot.bot.executor
        assert refresher is not None and executor is not None
        first = await refresher.run_once()
        seen = executor.policy.node_classes["gpu-h100"]
        cluster.nodes = [n for n in cluster.nodes if "h100" not in n["metadata"]["name"]]
        second = await refresher.run_once(refresher.clock.now() + 1)  # the pool scaled to zero

        repo, installation = new_repo_name("h100")
        thoth_yaml = (
            "host: thoth.example.com\nruntime_environments:\n"
            "  - name: training\n    labels:\n      node_class: gpu-h100\n"
        )
        github.create_repo(
            repo,
            {"Pipfile": pipfile("flask"), ".thoth.yaml": thoth_yaml},
            installation=installation,
        )
        await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("torch")})
        _, metrics = await bot.get("/metrics")
    finally:
        await bot.close()

    assert (seen.cuda_driver_version, seen.compute_capability) == ("570.86.15", "9.0")
    assert sorted(first.seen) == ["cpu-x86-64-v3", "gpu-a100", "gpu-h100"]
    assert first.uncovered == []
    assert second.gone == ["gpu-h100"] and "gpu-h100" not in executor.policy.node_classes
    [issue] = github.issues(repo)
    assert "asks for node class 'gpu-h100', which this cluster does not declare" in issue.body
    assert "gpu-a100" in issue.body  # the classes there are
    assert github.pulls(repo) == []
    assert 'thoth_bot_node_classes{state="gone"} 1.0' in metrics
    assert 'thoth_bot_cluster_nodes{covered="true"} 5.0' in metrics
