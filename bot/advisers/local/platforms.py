"""A node class's platform as uv's `--python-platform`: the wheels its nodes can install."""

from __future__ import annotations

from handlers.adviser import AdviseError, NodeClass

# glibc of the node class's operating system -> the manylinux level its nodes accept.
MANYLINUX = {("rhel", "8"): "2_28", ("rhel", "9"): "2_34", ("rhel", "10"): "2_39"}
DEFAULT_MANYLINUX = "2_28"
ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def python_platform(node_class: NodeClass) -> str:
    """'linux-x86_64' on RHEL 9 -> 'x86_64-manylinux_2_34'."""
    system, _, machine = node_class.platform.partition("-")
    architecture = ARCHITECTURES.get(machine.lower())
    if system.lower() != "linux" or architecture is None:
        raise AdviseError(
            f"node class {node_class.name!r} has platform {node_class.platform!r}; the embedded "
            "adviser locks for linux-x86_64 and linux-aarch64 nodes",
            fix="Correct the node class, or set THOTH_HOST to a Thoth deployment that knows "
            "this platform.",
        )
    major = (node_class.os_version or "").split(".")[0]
    level = MANYLINUX.get(((node_class.os_name or "").lower(), major), DEFAULT_MANYLINUX)
    return f"{architecture}-manylinux_{level}"
