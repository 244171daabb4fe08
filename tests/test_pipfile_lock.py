"""handlers.pipfile_lock: Pipfile.lock written byte for byte as pipenv writes it, and changes."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

from handlers.pipfile import parse_pipfile
from handlers.pipfile_lock import VersionChange, parse_lock, render_lock, version_changes
from tests.tools import tool_bin

PIPFILE = parse_pipfile(
    "Pipfile",
    """
[[source]]
name = "pypi"
url = "https://pypi.org/simple"
verify_ssl = true

[[source]]
name = "internal"
url = "http://pypi.internal.example/simple"

[packages]
requests = "*"

[requires]
python_version = "3.11"
""",
)

BACKEND_LOCK = {
    "default": {
        "requests": {
            "hashes": [
                "sha256:55365417734eb18255590a9ff9eb97e9e1da868d4ccd6402399eaf68af20a760",
                "sha256:70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6",
            ],
            "index": "pypi",
            "markers": "python_version >= '3.8'",
            "version": "==2.32.3",
        },
        "idna": {"version": "==3.7", "hashes": ["sha256:" + "b" * 64], "index": "pypi"},
    },
    "_meta": {
        "hash": {"sha256": "thoth-computed-something-else"},
        "pipfile-spec": 6,
        "requires": {"python_version": "3.11"},
        "sources": [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}],
    },
}


def _pipenv_writes(lock: dict, tmp_path: Path) -> bytes:
    """The bytes pipenv's own lock writer (`Lockfile.write`, `_LockFileEncoder`) puts on disk."""
    (tmp_path / "Pipfile").write_text("[packages]\n")
    script = (
        "import json, sys\n"
        "from pipenv.project import Project, _LockFileEncoder\n"
        "assert type(Project._lockfile_encoder) is _LockFileEncoder\n"
        "Project(chdir=False).lockfile.write(json.load(sys.stdin))\n"
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PIPENV_PIPFILE": str(tmp_path / "Pipfile"),
        "NO_COLOR": "1",
    }
    subprocess.run(
        [str(tool_bin("pipenv", "python")), "-c", script],
        input=json.dumps(lock),
        env=env,
        cwd=tmp_path,
        check=True,
        text=True,
        timeout=120,
    )
    return (tmp_path / "Pipfile.lock").read_bytes()


def test_render_lock_is_byte_for_byte_what_pipenv_writes(tmp_path):
    lock = copy.deepcopy(BACKEND_LOCK)
    lock["default"]["café-lib"] = {
        "markers": "platform_system != 'Wïndows ☃'",
        "path": "./bibliothèque",
        "editable": True,
    }
    lock["develop"] = {"pytest": {"version": "==8.2.0", "hashes": []}}
    lock["docs"] = {"sphinx": {"version": "==7.3.7", "extras": ["a", "b"]}}
    lock["_meta"]["requires"]["weight"] = 1.5
    lock["_meta"]["requires"]["count"] = 3
    rendered = render_lock(lock, PIPFILE)

    assert rendered.text.encode("utf-8") == _pipenv_writes(rendered.lock, tmp_path)
    assert rendered.text.endswith("}\n")
    assert "\\u00e9" in rendered.text and "é" not in rendered.text  # ASCII escapes, as pipenv
    assert json.loads(rendered.text) == rendered.lock


def test_render_lock_sets_pipenvs_hash_and_says_when_it_corrected_it():
    rendered = render_lock(BACKEND_LOCK, PIPFILE)
    assert rendered.lock["_meta"]["hash"] == {"sha256": PIPFILE.hash}
    assert rendered.hash_corrected

    again = render_lock(rendered.lock, PIPFILE)
    assert not again.hash_corrected
    assert again.text == rendered.text

    assert render_lock({"default": {}}, PIPFILE).hash_corrected  # no hash at all


def test_render_lock_does_not_touch_its_input():
    before = copy.deepcopy(BACKEND_LOCK)
    rendered = render_lock(BACKEND_LOCK, PIPFILE)
    rendered.lock["default"]["requests"]["version"] = "==0"
    assert before == BACKEND_LOCK


def test_render_lock_keeps_the_backends_meta_and_packages():
    rendered = render_lock(BACKEND_LOCK, PIPFILE)
    assert rendered.lock["default"] == BACKEND_LOCK["default"]
    assert rendered.lock["develop"] == {}
    assert rendered.lock["_meta"]["pipfile-spec"] == 6
    assert rendered.lock["_meta"]["requires"] == {"python_version": "3.11"}
    assert rendered.lock["_meta"]["sources"] == BACKEND_LOCK["_meta"]["sources"]


def test_render_lock_fills_meta_from_the_pipfile_as_pipenv_does():
    rendered = render_lock({"default": None, "_meta": {"pipfile-spec": 5}}, PIPFILE)
    assert rendered.lock == {
        "_meta": {
            "hash": {"sha256": PIPFILE.hash},
            "pipfile-spec": 6,
            "requires": {"python_version": "3.11"},
            # verify_ssl filled in as pipenv's Sources.populate_source does: https or not
            "sources": [
                {"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True},
                {
                    "name": "internal",
                    "url": "http://pypi.internal.example/simple",
                    "verify_ssl": False,
                },
            ],
        },
        "default": {},
        "develop": {},
    }
    assert PIPFILE.sources[1] == {"name": "internal", "url": "http://pypi.internal.example/simple"}

    bare = render_lock({}, parse_pipfile("Pipfile", '[packages]\nrequests = "*"\n'))
    assert bare.lock["_meta"]["requires"] == {}
    assert bare.lock["_meta"]["sources"] == [
        {"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}
    ]


def test_parse_lock():
    text = render_lock(BACKEND_LOCK, PIPFILE).text
    assert parse_lock("Pipfile.lock", text) == json.loads(text)
    assert parse_lock("Pipfile.lock", "\ufeff" + text) == json.loads(text)
    assert parse_lock("Pipfile.lock", "") is None
    assert parse_lock("Pipfile.lock", " \n") is None
    assert parse_lock("Pipfile.lock", '{"_meta": {') is None
    assert parse_lock("Pipfile.lock", "<<<<<<< HEAD\n{}\n") is None
    assert parse_lock("Pipfile.lock", "[1, 2]") is None


def _lock(default=None, develop=None, **others):
    return {
        "_meta": {"hash": {"sha256": "x"}},
        "default": default or {},
        "develop": develop or {},
        **others,
    }


def test_version_changes_lists_upgrades_additions_and_removals_sorted():
    old = _lock(
        default={
            "requests": {"version": "==2.31.0"},
            "idna": {"version": "==3.6"},
            "six": "==1.16.0",
        },
        develop={"pytest": {"version": "==8.0.0"}},
    )
    new = _lock(
        default={
            "requests": {"version": "==2.32.3"},
            "idna": {"version": "==3.6"},
            "urllib3": {"version": "==2.2.1"},
        },
        develop={"pytest": {"version": "==8.2.0"}, "coverage": {"version": "==7.5.0"}},
    )
    assert version_changes(old, new) == [
        VersionChange("default", "requests", "2.31.0", "2.32.3"),
        VersionChange("default", "six", "1.16.0", None),
        VersionChange("default", "urllib3", None, "2.2.1"),
        VersionChange("develop", "coverage", None, "7.5.0"),
        VersionChange("develop", "pytest", "8.0.0", "8.2.0"),
    ]


def test_version_changes_without_an_old_lock_lists_every_package():
    new = _lock(default={"torch": {"version": "==2.3.0"}}, docs={"sphinx": {"version": "==7.3.7"}})
    assert version_changes(None, new) == [
        VersionChange("default", "torch", None, "2.3.0"),
        VersionChange("docs", "sphinx", None, "7.3.7"),
    ]
    assert version_changes(new, new) == []


def test_version_changes_compares_canonical_names_and_describes_vcs_entries():
    old = _lock(
        default={
            "Flask": {"version": "==3.0.0"},
            "tool": {"git": "https://github.com/example/tool.git", "ref": "v1.0"},
            "mylib": {"path": "./mylib", "editable": True},
        }
    )
    new = _lock(
        default={
            "flask": {"version": "==3.0.0"},
            "tool": {"git": "https://github.com/example/tool.git", "ref": "v1.1"},
            "mylib": {"path": "./mylib", "editable": True},
        }
    )
    assert version_changes(old, new) == [VersionChange("default", "tool", "v1.0", "v1.1")]
    assert version_changes({"default": "garbage"}, new)[0] == VersionChange(
        "default", "flask", None, "3.0.0"
    )
