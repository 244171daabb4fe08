"""The documentation in docs/ stays true to the code.

Every metric, template parameter and environment variable the code has is documented; every
variable, `thoth-bot` command, flag and `/thoth` command the docs name exists; their examples
load as the bot loads them; their links resolve.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
from pathlib import Path

import yaml

from bot import logs
from bot.cli import _parser
from bot.config import load_settings
from bot.metrics import Metrics
from handlers import commands
from handlers.repo_config import load_repo_config

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
OPERATOR_GUIDE = DOCS / "operator-guide.md"
USER_GUIDE = DOCS / "user-guide.md"
TEMPLATE = ROOT / "deploy" / "openshift.yaml"

# What looks like one of the bot's environment variables in prose.
VARIABLE = re.compile(r"\b(?:THOTH|GITHUB|GITLAB|REDIS|METRICS|PORT)[A-Z0-9_]*\b")
FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
# `thoth-bot COMMAND`, thoth-bot starting a shell word (not `thoth-bot/lock`, `deploy/thoth-bot`).
CLI_COMMAND = re.compile(r"(?:^|[\s;|&(])thoth-bot[ \t]+([a-z][a-z-]*)([^\n|;&]*)")
SLASH_COMMAND = re.compile(r"/thoth[ \t]+([a-z][a-z-]*)")


def doc_files() -> list[Path]:
    files = sorted(DOCS.glob("*.md"))
    assert files, "docs/ has no Markdown files"
    return files


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def code_blocks(text: str, language: str | None = None) -> list[str]:
    """The contents of the fenced code blocks of `text` (of one `language`, if given)."""
    blocks = []
    for match in FENCE.finditer(text):
        info = match.group(0).split("\n", 1)[0].strip()[3:].strip()
        if language is None or info == language:
            blocks.append(match.group(2))
    return blocks


def without_code_blocks(text: str) -> str:
    return FENCE.sub("", text)


def code(text: str) -> list[str]:
    """Every piece of code in `text`: fenced blocks and inline spans."""
    return code_blocks(text) + [m.group(2) for m in CODE_SPAN.finditer(without_code_blocks(text))]


def template_parameters() -> list[str]:
    template = yaml.safe_load(read(TEMPLATE))
    names = [parameter["name"] for parameter in template["parameters"]]
    assert names, "the template declares no parameters"
    return names


def subcommands() -> dict[str, argparse.ArgumentParser]:
    return _actions(_parser())


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A parser's subcommands ({} when it has none)."""
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices) if found else {}


# Metrics.


def test_every_metric_family_is_named_in_the_operator_guide():
    text = read(OPERATOR_GUIDE)
    metrics = Metrics()
    families = [*metrics.registry.collect(), *metrics.work_registry.collect()]
    assert len(families) >= 5
    missing = []
    for family in families:
        names = [family.name] + ([f"{family.name}_total"] if family.type == "counter" else [])
        if not any(re.search(rf"`{re.escape(name)}`", text) for name in names):
            missing.append(family.name)
    assert not missing, f"metrics not documented in docs/operator-guide.md: {missing}"


def test_every_metric_row_names_its_labels():
    text = read(OPERATOR_GUIDE)
    collectors = [value for value in vars(Metrics()).values() if hasattr(value, "_labelnames")]
    assert collectors
    problems = []
    for collector in collectors:
        exposed = collector._name + ("_total" if collector._type == "counter" else "")
        rows = [
            line for line in text.splitlines() if line.startswith("|") and f"`{exposed}`" in line
        ]
        if not rows:
            problems.append(f"{exposed}: no table row")
            continue
        for label in collector._labelnames:
            if f"`{label}`" not in rows[0]:
                problems.append(f"{exposed}: label {label} not in its row")
    assert not problems, problems


# The OpenShift Template.


def test_every_template_parameter_is_named_in_the_operator_guide():
    text = read(OPERATOR_GUIDE)
    missing = [name for name in template_parameters() if f"`{name}`" not in text]
    assert not missing, f"template parameters not documented in docs/operator-guide.md: {missing}"


# Environment variables.


def _code_corpus() -> str:
    """Everything the bot reads or ships: its code, the s2i hook templates, deploy/."""
    paths = [
        *(ROOT / "bot").rglob("*.py"),
        *(ROOT / "handlers").rglob("*.py"),
        *(ROOT / "handlers" / "s2i" / "templates").iterdir(),
        *(path for path in (ROOT / "deploy").iterdir() if path.is_file()),
    ]
    return "\n".join(read(path) for path in paths if path.is_file())


def test_every_variable_the_docs_name_exists():
    known = set(VARIABLE.findall(_code_corpus())) | set(template_parameters())
    named: dict[str, set[str]] = {}
    for path in doc_files():
        for name in VARIABLE.findall(read(path)):
            named.setdefault(name, set()).add(path.name)
    assert "GITHUB_WEBHOOK_SECRET" in named, "the variable pattern finds nothing in the docs"
    unknown = {name: sorted(files) for name, files in named.items() if name not in known}
    assert not unknown, (
        f"the docs name variables that neither the code nor the template has: {unknown}"
    )


def test_every_variable_the_bot_reads_is_in_the_operator_guide():
    text = read(OPERATOR_GUIDE)
    read_by_code = set()
    for path in (ROOT / "bot").rglob("*.py"):
        read_by_code |= set(
            re.findall(r"\b(?:env|environ)(?:\.get\(|\[)\s*[\"']([A-Z][A-Z0-9_]+)[\"']", read(path))
        )
    assert {"GITHUB_APP_ID", "REDIS_URL", "THOTH_HOST"} <= read_by_code
    missing = sorted(name for name in read_by_code if f"`{name}`" not in text)
    assert not missing, (
        f"variables the bot reads, not documented in docs/operator-guide.md: {missing}"
    )


# Commands.


def test_every_thoth_bot_command_and_flag_the_docs_show_exists():
    known = subcommands()
    seen = set()
    problems = []
    for path in doc_files():
        for snippet in code(read(path)):
            for match in CLI_COMMAND.finditer(snippet):
                name, rest = match.group(1), match.group(2)
                seen.add(name)
                parser = known.get(name)
                if parser is None:
                    problems.append(f"{path.name}: `thoth-bot {name}` is not a command")
                    continue
                words = rest.split()
                actions = _actions(parser)  # `thoth-bot node-classes discover`
                if actions and words and words[0] in actions:
                    parser = actions[words[0]]
                for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest):
                    if flag not in parser._option_string_actions:
                        problems.append(f"{path.name}: `thoth-bot {name}` has no {flag}")
    assert seen, "no `thoth-bot COMMAND` found in the docs"
    assert not problems, problems
    undocumented = sorted(set(known) - seen)
    assert not undocumented, f"commands the docs never show: {undocumented}"


def test_every_slash_command_in_the_user_guide_is_one_the_bot_accepts():
    text = read(USER_GUIDE)
    named = set(SLASH_COMMAND.findall(text))
    unknown = sorted(named - set(commands.COMMANDS))
    assert not unknown, f"docs/user-guide.md names commands the bot does not have: {unknown}"
    undocumented = sorted(set(commands.COMMANDS) - named)
    assert not undocumented, f"commands missing from docs/user-guide.md: {undocumented}"
    for path in doc_files():
        unknown = sorted(set(SLASH_COMMAND.findall(read(path))) - set(commands.COMMANDS))
        assert not unknown, f"{path.name} names commands the bot does not have: {unknown}"


def test_the_user_guides_command_examples_run_as_written():
    examples = [
        command
        for block in code_blocks(read(USER_GUIDE))
        for command in commands.parse_commands(block)
    ]
    assert examples, "docs/user-guide.md shows no `/thoth` example in a code block"
    problems = [(c.line, commands.check(c)) for c in examples if commands.check(c) is not None]
    assert not problems, problems


# Examples.


def test_the_operator_guides_configuration_examples_load(tmp_path):
    blocks = code_blocks(read(OPERATOR_GUIDE), "yaml")
    configurations = [block for block in blocks if "node_classes:" in block]
    rules = [block for block in blocks if block.startswith("adviser:")]
    assert configurations and rules
    default = read(ROOT / "bot" / "data" / "default-config.yaml")
    for index, text in enumerate(configurations + [default + "\n" + b for b in rules]):
        path = tmp_path / f"config-{index}.yaml"
        path.write_text(text, encoding="utf-8")
        settings = load_settings(path, env={})
        assert settings.default_node_class in settings.node_classes
    added = load_settings(path, env={})
    ids = {rule.id for rule in added.hardware_rules}
    for block in rules:
        for rule in yaml.safe_load(block)["adviser"]["rules"]:
            assert rule["id"] in ids


def test_the_user_guides_thoth_yaml_examples_load():
    settings = load_settings(None, env={})
    blocks = [b for b in code_blocks(read(USER_GUIDE), "yaml") if "runtime_environments:" in b]
    assert blocks, "docs/user-guide.md shows no .thoth.yaml"
    for text in blocks:
        config = load_repo_config(
            text,
            node_classes=settings.node_classes,
            default_node_class=settings.default_node_class,
        )
        declared = yaml.safe_load(text)["runtime_environments"]
        assert [env.name for env in config.environments] == [entry["name"] for entry in declared]


def test_the_log_line_example_has_the_fields_the_bot_writes():
    stream = io.StringIO()
    handler = logs.make_handler(stream, json=True)
    record = logging.LogRecord("bot.executor", logging.INFO, __file__, 1, "running", None, None)
    with logs.context(delivery="github:1", repo="acme/app", job=1):
        handler.handle(record)
    written = set(json.loads(stream.getvalue()))
    examples = [json.loads(block) for block in code_blocks(read(OPERATOR_GUIDE), "json")]
    assert examples, "docs/operator-guide.md shows no log line"
    for example in examples:
        assert set(example) == written
    text = read(OPERATOR_GUIDE)
    for field in written | {"exception"}:
        assert f"`{field}`" in text, f"log field {field} is not described"


# Links.


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(h) for h in HEADING.findall(without_code_blocks(read(path)))}


def test_relative_links_resolve():
    checked = 0
    problems = []
    for path in doc_files():
        for target in LINK.findall(without_code_blocks(read(path))):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto:...
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            checked += 1
            if not resolved.exists():
                problems.append(f"{path.name}: {target} does not exist")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                problems.append(f"{path.name}: {target} names no heading of {resolved.name}")
    assert checked, "the docs link to nothing"
    assert not problems, problems
