"""The build sandbox (`adviser.builds: isolated` in the embedded mode): bubblewrap around uv.

A build runs code a repository chose. In the process that serves webhooks, a process of the
same user could read the App's key file, the state directory and `/proc/<bot>/environ`; so a
build runs only inside bubblewrap (`bwrap`, from the distribution's packages):

- every namespace of its own (user, PID, mount, network, IPC, UTS, cgroup), all capabilities
  dropped, a new session, killed with its parent;
- the filesystem read-only, with the bot's secrets hidden: the state directory, the App's key
  file, the shared uv cache and the pod's mounted secrets (`/run/secrets`, `/var/run/secrets`)
  are empty there; a fresh `/proc` shows only the sandbox's own processes;
- a writable work directory and HOME of its own (the throw-away uv cache lives there);
- no network but loopback, where `relay.py` carries connections to the egress proxy.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

RELAY = Path(__file__).with_name("relay.py")
POD_SECRETS = (Path("/run/secrets"), Path("/var/run/secrets"))


@functools.cache
def bwrap() -> str | None:
    """The path of a bubblewrap that can make a sandbox here, else None."""
    found = shutil.which("bwrap")
    if found is None:
        return None
    try:
        probe = subprocess.run(
            [found, "--ro-bind", "/", "/", "--unshare-all", "--cap-drop", "ALL", "true"],
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if probe.returncode == 0 else None


UNAVAILABLE = (
    "adviser.builds: isolated needs a sandbox for builds in the embedded mode, and bubblewrap "
    "(bwrap) cannot make one here. Fix: install bubblewrap where user namespaces are allowed, "
    "or run the distributed mode (REDIS_URL) with `thoth-bot resolver` processes, which hold "
    "no credential."
)


class Sandbox:
    """Wraps a command in bubblewrap, hiding `hidden` (directories or files)."""

    def __init__(self, hidden: Iterable[Path] = ()) -> None:
        executable = bwrap()
        if executable is None:
            raise RuntimeError(UNAVAILABLE)
        self.executable = executable
        self.hidden = tuple(Path(path) for path in (*hidden, *POD_SECRETS))

    def wrap(
        self,
        command: Sequence[str],
        *,
        workdir: Path,
        home: Path,
        socket_path: Path,
        token: str,
        env: Mapping[str, str],
    ) -> list[str]:
        arguments = [self.executable, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        for path in self.hidden:
            if path.is_dir():
                arguments += ["--tmpfs", str(path.resolve())]
            elif path.exists():
                arguments += ["--ro-bind", "/dev/null", str(path.resolve())]
        for path in (workdir, home, socket_path.parent):
            arguments += ["--bind", str(path), str(path)]
        arguments += [
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--clearenv",
            "--chdir",
            str(workdir),
        ]
        for name, value in env.items():
            arguments += ["--setenv", name, value]
        relay = [sys.executable, "-I", str(RELAY), str(socket_path), token, "--"]
        return [*arguments, "--", *relay, *command]
