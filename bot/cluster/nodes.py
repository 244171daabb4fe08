"""What a lock depends on, read off a Kubernetes Node: its labels from Node Feature Discovery
(`feature.node.kubernetes.io/...`) and NVIDIA's GPU Feature Discovery (`nvidia.com/...`), and
its architecture (`status.nodeInfo`).

| field | labels |
|---|---|
| architecture | `status.nodeInfo.architecture`, else `kubernetes.io/arch` |
| os release | NFD `system-os_release.ID`, `.VERSION_ID` |
| CPU family, model | NFD `cpu-model.family`, `cpu-model.id` (`cpu-model.vendor_id`) |
| CPU flags, x86-64 level | NFD `cpu-cpuid.<FLAG>: "true"` (`X86_64_V1`...`X86_64_V4`) |
| GPU | GFD `nvidia.com/gpu.product`, `gpu.compute.major` / `.minor`, `gpu.memory` |
| CUDA driver | GFD `nvidia.com/cuda.driver-version.full` (deprecated: `cuda.driver.*`) |
| CUDA | GFD `nvidia.com/cuda.runtime-version.full` (deprecated: `cuda.runtime.*`) |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NFD = "feature.node.kubernetes.io/"
GFD = "nvidia.com/"
CPUID = NFD + "cpu-cpuid."
PLATFORMS = {"amd64": "linux-x86_64", "arm64": "linux-aarch64"}


@dataclass(frozen=True)
class NodeProfile:
    name: str
    labels: Mapping[str, str]
    architecture: str
    os_release: str  # "rhcos 4.16"
    cpu_vendor: str | None
    cpu_family: int | None
    cpu_model: int | None
    cpu_flags: tuple[str, ...]  # NFD's flag names, lower-cased ("avx512f", "x86_64_v4")
    gpu_product: str | None
    compute_capability: str | None  # "8.0"
    gpu_memory_mib: int | None
    cuda_driver_version: str | None  # "535.104.05"
    cuda_version: str | None  # "12.2": the newest CUDA the driver runs

    @property
    def x86_level(self) -> int:
        levels = [int(flag[-1]) for flag in self.cpu_flags if flag.startswith("x86_64_v")]
        return max(levels, default=0)

    @property
    def avx(self) -> tuple[str, ...]:
        return tuple(flag for flag in self.cpu_flags if flag.startswith("avx"))

    @property
    def platform(self) -> str:
        return PLATFORMS.get(self.architecture, f"linux-{self.architecture}")

    def lock_key(self) -> tuple[Any, ...]:
        """What tells nodes apart for a lock: nodes with one key share a node class."""
        return (
            self.architecture,
            self.os_release,
            self.x86_level,
            self.avx,
            self.gpu_product,
            self.compute_capability,
            self.cuda_driver_version,
        )


def profile(node: Mapping[str, Any]) -> NodeProfile:
    """A Node object (the Kubernetes API's JSON, or the client's model as a dict)."""
    metadata = node.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    info = (
        (node.get("status") or {}).get("nodeInfo")
        or (node.get("status") or {}).get("node_info")
        or {}
    )
    architecture = str(info.get("architecture") or labels.get("kubernetes.io/arch") or "amd64")
    os_id = labels.get(NFD + "system-os_release.ID")
    os_version = labels.get(NFD + "system-os_release.VERSION_ID")
    driver = labels.get(GFD + "cuda.driver-version.full") or _joined(
        labels, "cuda.driver.major", "cuda.driver.minor", "cuda.driver.rev"
    )
    cuda = labels.get(GFD + "cuda.runtime-version.full") or _joined(
        labels, "cuda.runtime.major", "cuda.runtime.minor"
    )
    compute = _joined(labels, "gpu.compute.major", "gpu.compute.minor")
    return NodeProfile(
        name=str(metadata.get("name") or ""),
        labels=labels,
        architecture=architecture,
        os_release=" ".join(part for part in (os_id, os_version) if part),
        cpu_vendor=labels.get(NFD + "cpu-model.vendor_id"),
        cpu_family=_int(labels.get(NFD + "cpu-model.family")),
        cpu_model=_int(labels.get(NFD + "cpu-model.id")),
        cpu_flags=tuple(
            sorted(
                key[len(CPUID) :].lower()
                for key, value in labels.items()
                if key.startswith(CPUID) and value == "true"
            )
        ),
        gpu_product=labels.get(GFD + "gpu.product"),
        compute_capability=compute,
        gpu_memory_mib=_int(labels.get(GFD + "gpu.memory")),
        cuda_driver_version=driver,
        cuda_version=cuda,
    )


def _joined(labels: Mapping[str, str], *names: str) -> str | None:
    parts = [labels.get(GFD + name, "") for name in names]
    parts = [part for part in parts if part]
    return ".".join(parts) if parts and labels.get(GFD + names[0]) else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
