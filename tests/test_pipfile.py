"""handlers.pipfile: Pipfiles read as pipenv reads them, hashed as pipenv hashes them."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from handlers.pipfile import DEFAULT_SOURCE, parse_pipfile, pipfile_hash
from handlers.pipfile_lock import render_lock
from handlers.problems import Problem
from tests.tools import pipenv_verify, tool_bin

LOCK = {
    "_meta": {"hash": {"sha256": "0" * 64}, "pipfile-spec": 6},
    "default": {
        "requests": {
            "hashes": ["sha256:" + "a" * 64],
            "index": "pypi",
            "version": "==2.32.3",
        }
    },
}

# Varied Pipfiles; pipenv must accept a lock carrying `pipfile_hash` for each.
PIPFILES = {
    "no-source": """
[packages]
requests = "*"
""",
    "several-sources": """
[[source]]
name = "pypi"
url = "https://pypi.org/simple"
verify_ssl = true

[[source]]
name = "internal"
url = "http://pypi.internal.example/simple"
verify_ssl = false

[[source]]
url = "https://download.pytorch.org/whl/cpu"
name = "pytorch"

[packages]
requests = "*"
torch = {version = "*", index = "pytorch"}
private-lib = {version = "==1.0", index = "internal"}
""",
    "python-version": """
[packages]
flask = ">=2"

[requires]
python_version = "3.11"
""",
    "python-full-version": """
[packages]
flask = ">=2"

[requires]
python_full_version = "3.11.4"
""",
    "name-forms": """
[packages]
Django = "~=4.2"
"zope.interface" = "*"
typing_extensions = "*"
"Ruamel.YAML" = "*"
Foo_Bar = "*"
foo-bar = "==1.0"

[dev-packages]
PyTest = "*"
""",
    "package-tables": """
[packages]
requests = {version = ">=2.31", extras = ["socks", "security"], markers = "python_version >= '3.8'"}
torch = {version = "==2.3.0", index = "pypi", sys_platform = "== 'linux'"}
mylib = {path = "./libs/mylib", editable = true}
tool = {git = "https://github.com/example/tool.git", ref = "v1.2.3", subdirectory = "src"}
wheel-file = {file = "https://example.com/pkgs/wheel_file-1.0-py3-none-any.whl"}
numpy = {version = "*", pip_args = ["--prefer-binary"], hashes = []}

[packages.pandas]
version = "==2.2.2"
extras = ["performance"]
""",
    "custom-category": """
[packages]
requests = "*"

[dev-packages]
pytest = "*"

[docs]
Sphinx = "*"
sphinx_rtd_theme = {version = "*"}

[default]
ignored-by-the-hash = "*"
""",
    "unicode": """
[[source]]
name = "café-index"
url = "https://pypi.org/simple"
verify_ssl = true

[packages]
"bibliothèque" = {path = "./bibliothèque"}
emoji-pkg = {version = "*", markers = "platform_system != '☃'"}

[requires]
python_version = "3.12"
""",
    "empty-dev-packages": """
[packages]
requests = "==2.32.3"

[dev-packages]
""",
    "scripts-and-pipenv": """
[packages]
requests = "*"

[scripts]
serve = "python -m app"
test = ["pytest", "-q"]

[pipenv]
allow_prereleases = true
cool-down-period = "30d"

[pipfile]
sort_pipfile = true
""",
    "crlf-and-comments": (
        "# a Pipfile written on Windows\r\n"
        "[packages]\r\n"
        'requests = {version = "*", markers = """\r\n'
        'python_version >= \'3.8\'"""}  # a multi-line marker\r\n'
        "\r\n"
        "[requires]\r\n"
        "python_version = '3.11'\r\n"
    ),
    "inline-sources-and-numbers": """
source = [{name = "pypi", url = "https://pypi.org/simple"}]

[packages]
requests = 2
numpy = 1.5

[requires]
python_version = "3.11"
extra_key = [1, 2.5, "x", {flag = true}, [0x1F, 1_000]]
big = 1e400
not-a-number = nan
negative-zero = -0.0
exponent = 1.0e2
""",
    "empty-source-list": """
source = []

[packages]
""",
    "empty": "",
}


def _write_project(directory: Path, pipfile_text: str, lock_text: str) -> Path:
    directory.mkdir()
    (directory / "Pipfile").write_bytes(pipfile_text.encode("utf-8"))
    (directory / "Pipfile.lock").write_bytes(lock_text.encode("utf-8"))
    return directory


def _verify_all(projects: list[Path]) -> list:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(pipenv_verify, projects))


def test_pipenv_verify_accepts_the_hash_for_varied_pipfiles(tmp_path):
    projects, locks = [], []
    for name, text in PIPFILES.items():
        lock_text = render_lock(LOCK, parse_pipfile("Pipfile", text)).text
        projects.append(_write_project(tmp_path / name, text, lock_text))
        locks.append(lock_text)
    for name, project, lock_text, result in zip(
        PIPFILES, projects, locks, _verify_all(projects), strict=True
    ):
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert "up-to-date" in result.stdout, name
        # pipenv read the lock as it is: it did not need to repair and rewrite it
        assert (project / "Pipfile.lock").read_bytes() == lock_text.encode("utf-8"), name


def test_pipenv_verify_rejects_a_wrong_hash(tmp_path):
    text = PIPFILES["name-forms"]
    rendered = render_lock(LOCK, parse_pipfile("Pipfile", text))
    stale = json.loads(rendered.text)
    stale["_meta"]["hash"]["sha256"] = pipfile_hash({"packages": {"django": "~=4.2"}})
    project = _write_project(tmp_path / "stale", text, json.dumps(stale, indent=4))
    result = pipenv_verify(project)
    assert result.returncode == 1
    assert "out-of-date" in result.stderr + result.stdout


def test_hash_ignores_name_spelling_scripts_and_pipenv_settings():
    plain = parse_pipfile("Pipfile", '[packages]\nruamel-yaml = "*"\n').hash
    spelled = parse_pipfile("Pipfile", '[packages]\n"Ruamel.YAML" = "*"\n').hash
    settings = parse_pipfile(
        "Pipfile",
        '[packages]\nruamel_yaml = "*"\n[scripts]\nx = "y"\n[pipenv]\nallow_prereleases = true\n',
    ).hash
    assert plain == spelled == settings
    assert plain != parse_pipfile("Pipfile", '[packages]\nruamel-yaml = "==0.18"\n').hash


def test_hash_counts_custom_categories_and_the_default_source():
    base = {"packages": {"requests": "*"}}
    assert pipfile_hash(base) != pipfile_hash({**base, "docs": {"sphinx": "*"}})
    assert pipfile_hash(base) == pipfile_hash({"source": [DEFAULT_SOURCE], **base})
    assert pipfile_hash(base) != pipfile_hash({"source": [], **base})


def test_parse_reports_python_version_sources_and_categories():
    pipfile = parse_pipfile("envs/gpu/Pipfile", PIPFILES["custom-category"])
    assert pipfile.path == "envs/gpu/Pipfile"
    assert pipfile.text == PIPFILES["custom-category"]
    assert pipfile.python_version is None
    assert pipfile.sources == [DEFAULT_SOURCE]
    assert list(pipfile.categories) == ["default", "develop", "docs"]
    assert pipfile.categories["docs"] == {"Sphinx": "*", "sphinx_rtd_theme": {"version": "*"}}

    assert parse_pipfile("Pipfile", PIPFILES["python-version"]).python_version == "3.11"
    assert parse_pipfile("Pipfile", PIPFILES["python-full-version"]).python_version == "3.11"
    several = parse_pipfile("Pipfile", PIPFILES["several-sources"])
    assert [source["name"] for source in several.sources] == ["pypi", "internal", "pytorch"]


def test_default_sources_are_not_shared_between_pipfiles():
    first = parse_pipfile("Pipfile", "")
    first.sources[0]["url"] = "https://changed.example/simple"
    assert parse_pipfile("Pipfile", "").sources == [DEFAULT_SOURCE]
    assert DEFAULT_SOURCE["url"] == "https://pypi.org/simple"


# (Pipfile text, line of the problem, words the message holds, pipenv itself fails on it)
INVALID = {
    "toml-syntax": ('[packages]\nrequests = "*"\nflask\n', 3, "invalid TOML: expected '='", True),
    "unterminated-string": ('[packages]\nrequests = "*\n', 2, "invalid TOML", True),
    "end-of-document": ('[packages]\nrequests = {version = "*"', 2, "invalid TOML", True),
    "duplicate-table": ("[packages]\n\n[packages]\n", 3, "cannot declare", True),
    "byte-order-mark": ('\ufeff[packages]\nrequests = "*"\n', 1, "byte-order mark", True),
    "packages-array-of-tables": ('[requires]\n\n[[packages]]\nrequests = "*"\n', 3,
                                 "`packages` must be a table", True),
    "packages-string": ('packages = "requests"\n\n[dev-packages]\n', 1,
                        "`packages` must be a table", False),
    "dev-packages-array": ('[packages]\nrequests = "*"\n\n[[dev-packages]]\npytest = "*"\n', 4,
                           "`dev-packages` must be a table", True),
    "package-list": ('[packages]\nrequests = "*"\nflask = [">=2"]\n', 3,
                     "[packages] flask must be a version string or a table", True),
    "package-bool": ('[dev-packages]\n\npytest = true\n', 3, "not a boolean", True),
    "package-unknown-key": ('[packages]\n\nrequests = {version = "*", commit = "abc"}\n', 3,
                            "unknown option(s) commit", True),
    "subtable-unknown-key": ('[packages]\nrequests = "*"\n\n[packages.tool]\ngit = "x"\n'
                             'commit = "abc"\n', 4, "unknown option(s) commit", True),
    "editable-string": ('[docs]\nsphinx = {editable = "yes", path = "."}\n', 2,
                        "`editable` must be true or false", True),
    "custom-category-list": ('[packages]\n\n[build-system]\nrequires = ["setuptools"]\n', 4,
                             "[build-system] requires", True),
    "source-without-url": ('[[source]]\nname = "pypi"\nurl = "https://pypi.org/simple"\n\n'
                           '[[source]]\nname = "internal"\n\n[packages]\n', 5,
                           "[[source]] number 2 has no `url`", True),
    "source-without-name": ('[[source]]\nurl = "https://pypi.org/simple"\n', 1,
                            "[[source]] number 1 has no `name`", True),
    "source-verify-ssl-string": ('[[source]]\nname = "p"\nurl = "https://p"\n'
                                 'verify_ssl = "true"\n', 4, "verify_ssl must be true or false",
                                 True),
    "source-table": ('[source]\nname = "pypi"\nurl = "https://pypi.org/simple"\n', 1,
                     "array of tables", True),
    "requires-string": ('requires = "3.11"\n\n[[source]]\nname = "p"\nurl = "https://p"\n', 1,
                        "`requires` must be a table", False),
    "python-version-number": ('[packages]\n\n[requires]\npython_version = 3.11\n', 4,
                              "python_version must be a string", True),
    "date-in-requires": ('[requires]\npython_version = "3.11"\nsince = 2024-01-01\n', 3,
                         "requires.since is a TOML date", True),
    "bool-in-array": ('[packages]\nrequests = "*"\nflask = {version = "*", extras = [true]}\n', 3,
                      "packages.flask.extras[0] is true inside an array", True),
    "bool-in-source-array": ('[[source]]\nname = "a"\nurl = "https://a"\n\n[[source]]\n'
                             'name = "b"\nurl = "https://b"\nflags = [false]\n', 8,
                             "source[1].flags[0] is false", True),
    "empty-script": ('[scripts]\nserve = ""\n', 2, "[scripts] serve", True),
    "prereleases-string": ('[pipenv]\nallow_prereleases = "yes"\n', 2, "allow_prereleases", True),
}  # fmt: skip


@pytest.mark.parametrize("name", INVALID)
def test_invalid_pipfiles_are_problems_with_their_line(name):
    text, line, words, _ = INVALID[name]
    with pytest.raises(Problem) as raised:
        parse_pipfile("envs/cpu/Pipfile", text)
    problem = raised.value
    assert problem.path == "envs/cpu/Pipfile"
    assert problem.line == line, str(problem)
    assert words.lower() in problem.message.lower()
    assert problem.fix
    assert str(problem).startswith(f"envs/cpu/Pipfile:{line}: ")


def test_invalid_toml_problem_reads_well():
    with pytest.raises(Problem) as raised:
        parse_pipfile("Pipfile", '[packages]\nrequests = "*"\nnumpy = ">=1"\nflask "*"\n')
    assert str(raised.value) == (
        "Pipfile:4: invalid TOML: expected '=' after a key in a key/value pair "
        "(at line 4, column 7)"
    )
    assert raised.value.fix == (
        "Correct the TOML syntax on line 4; `pipenv verify` must be able to read the Pipfile."
    )


def test_pipenv_itself_cannot_hash_the_pipfiles_we_reject(tmp_path):
    """Where pipenv decides, our Problems are not stricter than pipenv: it cannot hash these."""
    names = [name for name, case in INVALID.items() if case[3]]
    texts = [INVALID[name][0] for name in names] + [PIPFILES["name-forms"]]
    for index, text in enumerate(texts):
        (tmp_path / str(index)).mkdir()
        (tmp_path / str(index) / "Pipfile").write_bytes(text.encode("utf-8"))
    *outcomes, control = _pipenv_hashes(
        [tmp_path / str(index) / "Pipfile" for index in range(len(texts))], home=tmp_path
    )
    assert control == {"hash": parse_pipfile("Pipfile", PIPFILES["name-forms"]).hash}
    for name, outcome in zip(names, outcomes, strict=True):
        assert "error" in outcome, f"{name}: pipenv hashed it: {outcome}"


def _pipenv_hashes(pipfiles: list[Path], home: Path) -> list[dict[str, str]]:
    """Run pipenv's own `calculate_hash` (what `pipenv verify` compares) on each Pipfile."""
    script = """
import json, os, sys
from pipenv.project import Project
outcomes = []
for path in json.load(sys.stdin):
    os.environ["PIPENV_PIPFILE"] = path
    try:
        outcomes.append({"hash": Project(chdir=False).pipfile.calculate_hash()})
    except Exception as error:
        outcomes.append({"error": f"{type(error).__name__}: {error}"})
print(json.dumps(outcomes))
"""
    result = subprocess.run(
        [str(tool_bin("pipenv", "python")), "-c", script],
        input=json.dumps([str(path) for path in pipfiles]),
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(result.stdout)
