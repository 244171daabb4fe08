"""The one `Adviser` protocol: Thoth's user-API and the embedded adviser both implement it.

A request carries the Pipfile, the current lock and the hardware profile of the node class the
runtime environment runs on; a result carries the lock and Thoth-style guidance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Hardware:
    cpu_family: int | None = None
    cpu_model: int | None = None
    cpu_flags: tuple[str, ...] = ()
    gpu_model: str | None = None


@dataclass(frozen=True)
class NodeClass:
    """A named hardware profile of the cluster's nodes, declared by the operators."""

    name: str
    hardware: Hardware
    python_version: str
    platform: str
    os_name: str | None = None
    os_version: str | None = None
    cuda_version: str | None = None
    cuda_driver_version: str | None = None  # the NVIDIA driver, "535.104.05"
    compute_capability: str | None = None  # the GPU's, "8.0"
    cudnn_version: str | None = None
    openblas_version: str | None = None
    openmpi_version: str | None = None
    mkl_version: str | None = None
    base_image: str | None = None
    node_selector: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """One line for people: 'gpu-a100: NVIDIA A100-SXM4-40GB, CUDA 12.2, Python 3.11'."""
        parts = []
        if self.hardware.gpu_model:
            parts.append(self.hardware.gpu_model)
        else:
            parts.append("CPU only")
        if self.cuda_version:
            parts.append(f"CUDA {self.cuda_version}")
        if self.cudnn_version:
            parts.append(f"cuDNN {self.cudnn_version}")
        if self.hardware.cpu_flags:
            parts.append("CPU flags " + ", ".join(self.hardware.cpu_flags))
        if self.os_name:
            parts.append(f"{self.os_name} {self.os_version or ''}".strip())
        parts.append(f"Python {self.python_version}")
        parts.append(self.platform)
        return f"{self.name}: " + "; ".join(parts)


@dataclass(frozen=True)
class AdviseRequest:
    pipfile: str  # the Pipfile text
    pipfile_lock: str  # the current lock's text, "" when there is none
    environment: str  # the runtime environment's name
    node_class: NodeClass
    python_version: str  # the environment's python version (may override the class's)
    recommendation_type: str = "stable"
    origin: str | None = None  # the repository's web URL
    force: bool = False  # skip every cache
    dev: bool = False


@dataclass(frozen=True)
class Guidance:
    """One Thoth justification or stack_info entry."""

    type: str  # "ERROR" | "WARNING" | "INFO"
    message: str
    link: str = ""
    package: str = ""  # the package it is about, where it is about one (Thoth's package_name)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Guidance:
        return cls(
            type=str(data.get("type") or "INFO").upper(),
            message=str(data.get("message") or ""),
            link=str(data.get("link") or ""),
            package=str(data.get("package_name") or ""),
        )

    def to_dict(self) -> dict[str, str]:
        found = {"type": self.type, "message": self.message, "link": self.link}
        return {**found, "package_name": self.package} if self.package else found


@dataclass(frozen=True)
class AdviseResult:
    lock: dict[str, Any]  # Pipfile.lock as a mapping
    justification: tuple[Guidance, ...] = ()
    stack_info: tuple[Guidance, ...] = ()
    backend: str = ""
    analysis_id: str | None = None
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class AdviseError(Exception):
    """The adviser could not produce a lock. `retryable` errors are worth another try."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        analysis_id: str | None = None,
        fix: str | None = None,
        detail: str | None = None,
        packages: tuple[str, ...] = (),
    ):
        super().__init__(message)
        self.retryable = retryable
        self.analysis_id = analysis_id
        self.fix = fix  # the one thing to do about it, when the adviser knows
        self.detail = detail  # an excerpt of a tool's own words, quoted as they are
        self.packages = packages  # the packages it is about, where it names some


class Adviser(Protocol):
    name: str

    async def advise(self, request: AdviseRequest) -> AdviseResult:
        """Lock the request's Pipfile for its node class, or raise `AdviseError`."""
