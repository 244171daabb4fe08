"""The embedded adviser's hardware rules (bot/data/hardware-rules.yaml, `adviser.rules`):
TensorFlow's CPU and CUDA needs and PyTorch's CUDA indexes, against indexes on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.index import PackageIndex
from test_local_adviser import LOOPBACK, advise, pipfile, uv_cache, verified

from bot.advisers.cache import CachedAdviser, SqliteAdviseCache
from bot.advisers.local import LocalAdviser
from bot.advisers.local.rules import merge, parse_rules, shipped_rules
from bot.config import ConfigError, load_settings
from handlers.adviser import AdviseError, AdviseRequest, AdviseResult, Hardware, NodeClass

__all__ = ["uv_cache"]  # the fixture, used here too

X86 = "cp311-cp311-manylinux_2_17_x86_64"


def node(name: str, flags: tuple[str, ...], gpu: str | None = None, cuda: str | None = None):
    return NodeClass(
        name=name,
        hardware=Hardware(cpu_flags=flags, gpu_model=gpu),
        python_version="3.11",
        platform="linux-x86_64",
        os_name="rhel",
        os_version="9",
        cuda_version=cuda,
    )


AVX512 = node("cpu-avx512", ("avx", "avx2", "avx512f"))
AVX_ONLY = node("cpu-sandybridge", ("avx",))
NO_AVX = node("cpu-atom", ("sse4_2",))
A100 = node("gpu-a100", ("avx", "avx2"), gpu="NVIDIA A100-SXM4-40GB", cuda="12.2")
GPU_NO_CUDA = node("gpu-unknown", ("avx", "avx2"), gpu="NVIDIA T4")


@pytest.fixture(scope="module")
def indexes() -> Iterator[dict[str, PackageIndex]]:
    found = {name: PackageIndex().start() for name in ("pypi", "avx2", "cu121", "cpu")}
    pypi = found["pypi"]
    pypi.add_wheel("numpy", "1.26.4", tag=X86)
    for version in ("1.5.0", "2.15.0", "2.16.1"):
        pypi.add_wheel("tensorflow", version, tag=X86, requires=["numpy"])
    pypi.add_wheel("torch", "2.5.1", tag=X86, requires=["numpy"])  # PyPI's: CUDA 12 inside
    found["avx2"].add_wheel("tensorflow", "2.15.0+avx2", tag=X86, requires=["numpy"])
    found["avx2"].add_wheel("tensorflow", "2.16.1+avx2", tag=X86, requires=["numpy"])
    # As PyTorch's CUDA builds: the CUDA libraries are nvidia-* wheels from the default index,
    # required on Linux x86-64 only.
    pypi.add_wheel("nvidia-cuda-runtime-cu12", "12.1.105", tag="py3-none-manylinux1_x86_64")
    on_linux = 'platform_system == "Linux" and platform_machine == "x86_64"'
    found["cu121"].add_wheel(
        "torch",
        "2.5.1+cu121",
        tag="cp311-cp311-linux_x86_64",
        requires=[f"nvidia-cuda-runtime-cu12==12.1.105; {on_linux}"],
    )
    found["cpu"].add_wheel("torch", "2.5.1+cpu", tag="cp311-cp311-linux_x86_64")
    yield found
    for index in found.values():
        index.stop()


@pytest.fixture(scope="module")
def rules(indexes: dict[str, PackageIndex]):  # type: ignore[no-untyped-def]
    """The shipped rules, with the operators' AVX2 index and PyTorch's indexes served here."""
    configured = parse_rules(
        [
            {
                "id": "tensorflow-avx2-builds",
                "when": {"packages": ["tensorflow"], "cpu_flags": ["avx2"]},
                "index": {"name": "tensorflow-avx2", "url": indexes["avx2"].simple_url},
                "guidance": {"type": "INFO", "message": "TensorFlow built for AVX2."},
            },
            *[
                {**entry, "index": {**entry["index"], "url": indexes[key].simple_url}}
                for key, entry in (
                    ("cu121", _shipped("pytorch-cu121")),
                    ("cpu", _shipped("pytorch-cpu")),
                )
            ],
        ]
    )
    return merge(shipped_rules(), configured)


def _shipped(rule_id: str) -> dict:
    import yaml

    text = (Path(__file__).parent.parent / "bot/data/hardware-rules.yaml").read_text()
    return next(rule for rule in yaml.safe_load(text)["rules"] if rule["id"] == rule_id)


def messages(result: AdviseResult, kind: str | None = None) -> list[str]:
    return [g.message for g in result.justification if kind is None or g.type == kind]


async def test_an_avx2_class_gets_the_avx2_build_and_an_avx2_less_class_never_does(
    indexes: dict[str, PackageIndex],
    rules,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    text = pipfile(indexes["pypi"], 'tensorflow = "*"')

    fast = await advise(text, AVX512, rules)
    plain = await advise(text, AVX_ONLY, rules)

    assert fast.lock["default"]["tensorflow"]["version"] == "==2.16.1+avx2"
    assert fast.lock["default"]["tensorflow"]["index"] == "tensorflow-avx2"
    assert {s["name"] for s in fast.lock["_meta"]["sources"]} == {"local", "tensorflow-avx2"}
    assert plain.lock["default"]["tensorflow"]["version"] == "==2.16.1"
    assert plain.lock["default"]["tensorflow"]["index"] == "local"
    assert plain.lock["default"]["tensorflow"]["hashes"] == sorted(
        indexes["pypi"].hashes("tensorflow", "2.16.1")
    )
    assert any("cpu-sandybridge has no AVX2" in m for m in messages(plain, "INFO"))
    assert "tensorflow-no-avx2" in plain.extra["rules"]
    verified(tmp_path, "fast", text, fast)
    verified(tmp_path, "plain", text, plain)


async def test_a_cpu_without_avx_is_held_below_tensorflow_1_6(
    indexes: dict[str, PackageIndex],
    rules,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    text = pipfile(indexes["pypi"], 'tensorflow = "*"')
    result = await advise(text, NO_AVX, rules)
    verified(tmp_path, "no-avx", text, result)
    assert result.lock["default"]["tensorflow"]["version"] == "==1.5.0"
    [warning] = messages(result, "WARNING")
    assert "AVX instructions, which the CPUs of cpu-atom lack (its flags: sse4_2)" in warning


async def test_tensorflow_is_held_to_the_builds_of_the_node_class_cuda(
    indexes: dict[str, PackageIndex],
    rules,  # type: ignore[no-untyped-def]
) -> None:
    result = await advise(pipfile(indexes["pypi"], 'tensorflow = "*"'), A100, rules)
    assert result.lock["default"]["tensorflow"]["version"] == "==2.15.0+avx2"  # <2.16: CUDA 12.2
    assert any("CUDA 12.2" in m and "gpu-a100" in m for m in messages(result, "INFO"))


async def test_torch_comes_from_the_index_of_the_node_class_cuda_or_the_cpu_one(
    indexes: dict[str, PackageIndex],
    rules,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    text = pipfile(indexes["pypi"], 'torch = "*"')

    gpu = await advise(text, A100, rules)
    cpu = await advise(text, AVX512, rules)

    assert gpu.lock["default"]["torch"] == {
        "hashes": sorted(indexes["cu121"].hashes("torch", "2.5.1+cu121")),
        "index": "pytorch-cu121",
        "version": "==2.5.1+cu121",
    }
    # The CUDA libraries that build needs are in the lock, from the Pipfile's index.
    assert gpu.lock["default"]["nvidia-cuda-runtime-cu12"] == {
        "hashes": sorted(indexes["pypi"].hashes("nvidia-cuda-runtime-cu12", "12.1.105")),
        "index": "local",
        "version": "==12.1.105",
    }
    assert cpu.lock["default"]["torch"]["version"] == "==2.5.1+cpu"
    assert cpu.lock["default"]["torch"]["index"] == "pytorch-cpu"
    assert set(cpu.lock["default"]) == {"torch"}
    assert any("PyTorch's CPU-only index" in m for m in messages(cpu))
    verified(tmp_path, "gpu", text, gpu)


async def test_a_rule_index_that_cannot_be_reached_names_the_rule_and_its_setting(
    indexes: dict[str, PackageIndex],
) -> None:
    """PyTorch's own index, out of the bot's reach (as on this machine): the fix is a mirror."""
    [down] = parse_rules(
        [
            {
                **_shipped("pytorch-cu121"),
                "index": {"name": "pytorch-cu121", "url": "http://127.0.0.1:9/cu121"},
            }
        ]
    )
    with pytest.raises(AdviseError) as caught:
        await advise(pipfile(indexes["pypi"], 'torch = "*"'), A100, merge(shipped_rules(), [down]))

    assert caught.value.retryable
    assert str(caught.value) == (
        "the index of hardware rule 'pytorch-cu121' (http://127.0.0.1:9/cu121) could not be reached"
    )
    assert caught.value.fix == (
        "Ask the bot's operator to point rule 'pytorch-cu121' at a mirror the bot can reach: in "
        "`adviser.rules`, a rule with id 'pytorch-cu121' and its own `index.url`."
    )


async def test_a_gpu_without_cuda_is_said(indexes: dict[str, PackageIndex], rules) -> None:  # type: ignore[no-untyped-def]
    result = await advise(pipfile(indexes["pypi"], 'torch = "*"'), GPU_NO_CUDA, rules)
    [warning] = messages(result, "WARNING")
    assert warning.startswith("gpu-unknown has a GPU (NVIDIA T4) but declares no CUDA version")
    assert result.lock["default"]["torch"]["version"] == "==2.5.1"


def test_operators_add_and_replace_rules_in_the_configuration(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    base = (Path(__file__).parent.parent / "bot/data/default-config.yaml").read_text()
    config.write_text(
        base
        + "adviser:\n  rules:\n"
        + "    - id: pytorch-cpu\n      when: {packages: [torch], gpu: false}\n"
        + "      index: {name: mirror, url: 'https://mirror.example/torch-cpu/simple'}\n"
        + "    - id: site-numpy\n      when: {packages: [numpy]}\n"
        + "      constrain: {numpy: '<2'}\n"
    )
    settings = load_settings(config, {})
    by_id = {rule.id: rule for rule in settings.hardware_rules}
    assert by_id["pytorch-cpu"].index is not None
    assert by_id["pytorch-cpu"].index.url == "https://mirror.example/torch-cpu/simple"
    assert by_id["site-numpy"].constrain == {"numpy": "<2"}
    assert len(settings.hardware_rules) == len(shipped_rules()) + 1

    config.write_text(base + "adviser:\n  rules:\n    - id: bad\n      when: {gpu: maybe}\n")
    with pytest.raises(ConfigError, match=r"config.yaml:\d+: .*gpu"):
        load_settings(config, {})


async def test_changed_rules_do_not_get_answers_cached_under_the_old_ones(
    indexes: dict[str, PackageIndex],
    rules,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    cache = SqliteAdviseCache(tmp_path / "cache.sqlite3")
    request = AdviseRequest(
        pipfile=pipfile(indexes["pypi"], 'tensorflow = "*"'),
        pipfile_lock="",
        environment="app",
        node_class=AVX512,
        python_version="3.11",
    )
    shipped = LocalAdviser(rules=shipped_rules(), indexes=LOOPBACK)
    before = await CachedAdviser(shipped, cache, 3600).advise(request)
    after = await CachedAdviser(LocalAdviser(rules=rules, indexes=LOOPBACK), cache, 3600).advise(
        request
    )

    assert before.lock["default"]["tensorflow"]["version"] == "==2.16.1"
    assert after.lock["default"]["tensorflow"]["version"] == "==2.16.1+avx2"


@pytest.fixture(scope="module")
def numpy_abi() -> Iterator[PackageIndex]:
    """TensorFlow 2.14.0 (built against NumPy 1, its metadata says only numpy>=1.23.5), 2.18.0
    (built against NumPy 2), and both NumPys."""
    index = PackageIndex().start()
    for version in ("1.26.4", "2.1.0"):
        index.add_wheel("numpy", version, tag=X86)
    index.add_wheel("tensorflow", "2.14.0", tag=X86, requires=["numpy>=1.23.5"])
    index.add_wheel("tensorflow", "2.18.0", tag=X86, requires=["numpy>=1.26.0"])
    yield index
    index.stop()


async def test_a_framework_built_against_numpy_1_gets_numpy_1(numpy_abi: PackageIndex) -> None:
    old = await advise(pipfile(numpy_abi, 'tensorflow = "==2.14.0"'), AVX512)
    new = await advise(pipfile(numpy_abi, 'tensorflow = "*"'), AVX512)

    assert old.lock["default"]["numpy"]["version"] == "==1.26.4"
    assert any(m.startswith("TensorFlow before 2.18 was built against NumPy 1") for m in
               messages(old, "INFO"))  # fmt: skip
    assert "tensorflow-numpy-1-abi" in old.extra["rules"]
    assert new.lock["default"]["tensorflow"]["version"] == "==2.18.0"
    assert new.lock["default"]["numpy"]["version"] == "==2.1.0"  # nothing held back
    assert not any("NumPy 1" in m for m in messages(new, "INFO"))


@pytest.fixture(scope="module")
def and_cuda() -> Iterator[PackageIndex]:
    """TensorFlow 2.11.0 (built for CUDA 11.2) and 2.15.0, whose `and-cuda` extra brings the
    CUDA libraries as nvidia-* wheels."""
    index = PackageIndex().start()
    index.add_wheel("numpy", "1.26.4", tag=X86)
    index.add_wheel("nvidia-cudnn-cu12", "8.9.4.25", tag="py3-none-manylinux1_x86_64")
    index.add_wheel("tensorflow", "2.11.0", tag=X86, requires=["numpy"])
    index.add_wheel(
        "tensorflow",
        "2.15.0",
        tag=X86,
        requires=["numpy", 'nvidia-cudnn-cu12==8.9.4.25; extra == "and-cuda"'],
    )
    yield index
    index.stop()


async def test_a_gpu_lock_carries_the_cuda_libraries_its_tensorflow_needs(
    and_cuda: PackageIndex,
) -> None:
    gpu = await advise(pipfile(and_cuda, 'tensorflow = "*"'), A100)
    cpu = await advise(pipfile(and_cuda, 'tensorflow = "*"'), AVX512)

    assert gpu.lock["default"]["tensorflow"]["version"] == "==2.15.0"
    assert gpu.lock["default"]["tensorflow"]["extras"] == ["and-cuda"]
    assert gpu.lock["default"]["nvidia-cudnn-cu12"]["version"] == "==8.9.4.25"
    assert any("locked with its `and-cuda` extra" in m for m in messages(gpu, "INFO"))
    assert "nvidia-cudnn-cu12" not in cpu.lock["default"]
    assert "extras" not in cpu.lock["default"]["tensorflow"]


async def test_a_tensorflow_built_for_an_older_cuda_is_a_warning_saying_what_would_work(
    and_cuda: PackageIndex,
) -> None:
    result = await advise(pipfile(and_cuda, 'tensorflow = "==2.11.0"'), A100)

    [warning] = [m for m in messages(result, "WARNING") if "older CUDA" in m]
    assert "gpu-a100 has (CUDA 12.2): it will not use the NVIDIA A100-SXM4-40GB" in warning
    assert "require tensorflow>=2.14 to use the GPU" in warning
    assert "nvidia-cudnn-cu12" not in result.lock["default"]
