"""Driver-aware GPU locks: a node class that carries its NVIDIA driver (as GPU Feature Discovery
labels it) gets the PyTorch CUDA build that driver runs, by uv's own driver table, from the
rules' indexes (served here, as an operator's mirror would); a build that needs a newer driver,
or lacks the class's compute capability, is a WARNING naming both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.index import PackageIndex
from test_hardware_rules import _shipped, messages
from test_local_adviser import LOOPBACK, pipfile

from bot.advisers.local import LocalAdviser
from bot.advisers.local.cuda_drivers import driver_backends
from bot.advisers.local.rules import merge, parse_rules, shipped_rules
from handlers.adviser import AdviseRequest, AdviseResult, Hardware, NodeClass

BUILDS = ("cu118", "cu126", "cu128")


def gpu(name: str, model: str, driver: str, compute: str, cuda: str | None = None) -> NodeClass:
    return NodeClass(
        name=name,
        hardware=Hardware(cpu_flags=("avx", "avx2", "avx512f"), gpu_model=model),
        python_version="3.11",
        platform="linux-x86_64",
        cuda_version=cuda,
        cuda_driver_version=driver,
        compute_capability=compute,
    )


A100 = gpu("gpu-a100", "NVIDIA A100-SXM4-40GB", "535.104.05", "8.0")
H100 = gpu("gpu-h100", "NVIDIA H100-80GB-HBM3", "570.86.15", "9.0")
T4_OLD_DRIVER = gpu("gpu-t4", "Tesla-T4", "470.57.02", "7.5")


@pytest.fixture(scope="module")
def indexes() -> Iterator[dict[str, PackageIndex]]:
    found = {name: PackageIndex().start() for name in ("pypi", *BUILDS)}
    found["pypi"].add_wheel("torch", "2.7.1", tag="cp311-cp311-manylinux_2_17_x86_64")
    for build in BUILDS:
        found[build].add_wheel("torch", f"2.7.1+{build}", tag="cp311-cp311-linux_x86_64")
    yield found
    for index in found.values():
        index.stop()


@pytest.fixture(scope="module")
def rules(indexes: dict[str, PackageIndex]):  # type: ignore[no-untyped-def]
    """The shipped rules, PyTorch's CUDA indexes mirrored here."""
    mirrored = [
        {**entry, "index": {**entry["index"], "url": indexes[build].simple_url}}
        for build in BUILDS
        for entry in [_shipped(f"pytorch-{build}")]
    ]
    return merge(shipped_rules(), parse_rules(mirrored))


async def advise(text: str, node_class: NodeClass, rules) -> AdviseResult:  # type: ignore[no-untyped-def]
    request = AdviseRequest(
        pipfile=text,
        pipfile_lock="",
        environment="app",
        node_class=node_class,
        python_version="3.11",
        recommendation_type="latest",
    )
    adviser = LocalAdviser(rules=rules, indexes=LOOPBACK)
    try:
        return await adviser.advise(request)
    finally:
        await adviser.close()


@pytest.fixture(autouse=True)
def uv_cache(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


async def test_uvs_driver_table_says_which_builds_a_driver_runs() -> None:
    assert {"cu118", "cu128", "cu129"} <= (await driver_backends("535.104.05") or set())
    assert "cu118" in (await driver_backends("470.57.02") or set())
    assert "cu121" not in (await driver_backends("470.57.02") or set())


async def test_a100_and_h100_get_the_build_their_drivers_run_and_an_old_driver_an_older_one(
    indexes: dict[str, PackageIndex], rules
) -> None:  # type: ignore[no-untyped-def]
    text = pipfile(indexes["pypi"], 'torch = "*"')

    locks = {c.name: await advise(text, c, rules) for c in (A100, H100, T4_OLD_DRIVER)}

    torch = {name: result.lock["default"]["torch"] for name, result in locks.items()}
    assert {name: (entry["version"], entry["index"]) for name, entry in torch.items()} == {
        "gpu-a100": ("==2.7.1+cu128", "pytorch-cu128"),
        "gpu-h100": ("==2.7.1+cu128", "pytorch-cu128"),
        "gpu-t4": ("==2.7.1+cu118", "pytorch-cu118"),
    }
    assert (
        "gpu-a100's NVIDIA driver 535.104.05 runs CUDA builds up to cu129 (uv's driver table): "
        "GPU frameworks get their CUDA 12.8 builds (cu128)." in messages(locks["gpu-a100"])
    )
    assert messages(locks["gpu-t4"], "WARNING") == []


async def test_a_cuda_the_driver_cannot_run_and_a_gpu_the_build_lacks_are_warnings(
    indexes: dict[str, PackageIndex], rules
) -> None:  # type: ignore[no-untyped-def]
    text = pipfile(indexes["pypi"], 'torch = "*"')
    declared = gpu("gpu-declared", "NVIDIA A100-SXM4-40GB", "470.57.02", "8.0", cuda="12.8")
    blackwell = gpu("gpu-b200", "NVIDIA B200", "470.57.02", "10.0")

    too_new = await advise(text, declared, rules)
    lacking = await advise(text, blackwell, rules)

    [warning] = messages(too_new, "WARNING")
    assert warning.startswith(
        "gpu-declared declares CUDA 12.8, whose builds (cu128) need a newer NVIDIA driver than "
        "its 470.57.02 (uv's driver table)"
    )
    assert "set cuda_version to 11.8 or older" in warning
    [warning] = messages(lacking, "WARNING")
    assert "NVIDIA B200 (compute capability 10.0) needs PyTorch's CUDA 12.8 builds" in warning
    assert "(NVIDIA driver 470.57.02)" in warning
