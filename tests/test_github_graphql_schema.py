"""The bot's GraphQL queries, and the fake GitHub's schema, checked against GitHub's real one.

GitHub's published schema comes from npm (`@octokit/graphql-schema`, pinned), downloaded once
into `.cache/`. A field the bot asks for that GitHub does not have fails here, not in production;
a fake that drifts from GitHub (another type, a lost non-null) fails here too.
"""

from __future__ import annotations

import fcntl
import io
import tarfile
import urllib.request
from functools import cache

import pytest
from fakes.github_graphql import schema as fake_schema
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    parse,
    validate,
)
from tools import CACHE

from bot.github.queries import all_queries

SCHEMA_VERSION = "15.26.1"
SCHEMA_URL = (
    f"https://registry.npmjs.org/@octokit/graphql-schema/-/graphql-schema-{SCHEMA_VERSION}.tgz"
)


@cache
def github_schema() -> GraphQLSchema:
    target = CACHE / f"octokit-graphql-schema-{SCHEMA_VERSION}.graphql"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".octokit-graphql-schema.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            with urllib.request.urlopen(SCHEMA_URL, timeout=120) as response:
                archive = tarfile.open(fileobj=io.BytesIO(response.read()), mode="r:gz")
            member = archive.extractfile("package/schema.graphql")
            assert member is not None
            target.write_bytes(member.read())
    return build_schema(target.read_text(), assume_valid=True)


@pytest.mark.parametrize("query", all_queries(), ids=lambda q: q.split("(")[0].split()[-1])
def test_the_bots_queries_are_valid_on_github(query: str) -> None:
    assert validate(github_schema(), parse(query)) == []


@pytest.mark.parametrize("query", all_queries(), ids=lambda q: q.split("(")[0].split()[-1])
def test_the_fake_can_answer_the_bots_queries(query: str) -> None:
    assert validate(fake_schema(), parse(query)) == []


def test_the_fakes_schema_is_a_subset_of_githubs() -> None:
    real = github_schema()
    problems = []
    for name, fake_type in fake_schema().type_map.items():
        if name.startswith("__") or name in ("String", "Int", "Boolean", "ID", "Float"):
            continue
        real_type = real.type_map.get(name)
        if real_type is None or type(real_type) is not type(fake_type):
            problems.append(f"{name}: not a {type(fake_type).__name__} on GitHub")
            continue
        if isinstance(fake_type, GraphQLEnumType):
            missing = set(fake_type.values) - set(real_type.values)  # type: ignore[union-attr]
            problems += [f"{name}.{value}: no such value" for value in sorted(missing)]
        if isinstance(fake_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, fake_field in fake_type.fields.items():
                real_field = real_type.fields.get(field_name)  # type: ignore[union-attr]
                if real_field is None:
                    problems.append(f"{name}.{field_name}: no such field")
                    continue
                if str(real_field.type) != str(fake_field.type):
                    problems.append(
                        f"{name}.{field_name}: {fake_field.type} here, {real_field.type} on GitHub"
                    )
                for arg, fake_arg in getattr(fake_field, "args", {}).items():
                    real_arg = real_field.args.get(arg)
                    if real_arg is None or str(real_arg.type) != str(fake_arg.type):
                        problems.append(f"{name}.{field_name}({arg}): differs from GitHub's")
            for interface in getattr(fake_type, "interfaces", ()):
                if interface.name not in {i.name for i in real_type.interfaces}:  # type: ignore[union-attr]
                    problems.append(f"{name}: does not implement {interface.name} on GitHub")
    assert problems == []
