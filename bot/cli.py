"""`thoth-bot` (also `python -m bot`): serve, worker, advise, replay, check-config (SPEC §3),
node-classes discover.

Exit status: 0 success, 1 a job failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

import uvloop

from bot import logs
from bot.config import (
    ConfigError,
    load_settings,
    missing_webhook_secrets,
    require_arq,
    unverifiable,
)

log = logging.getLogger("thoth-bot")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logs.configure()
    try:
        return args.run(args)
    except ConfigError as error:
        print(f"thoth-bot: configuration error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thoth-bot", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="the webhook server (and, embedded, its workers)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve.add_argument("--config")
    serve.add_argument(
        "--insecure-skip-verify",
        action="store_true",
        help="accept unsigned deliveries (local experiments only)",
    )
    serve.set_defaults(run=_serve)

    worker = commands.add_parser("worker", help="a worker for the distributed mode (REDIS_URL)")
    worker.add_argument("--config")
    worker.add_argument("--embedded", action="store_true", help=argparse.SUPPRESS)  # by serve
    worker.set_defaults(run=_worker)

    resolver = commands.add_parser(
        "resolver", help="a resolution worker for the distributed mode, without credentials"
    )
    resolver.add_argument("--config")
    resolver.set_defaults(run=_resolver)

    advise = commands.add_parser("advise", help="lock a local checkout, no forge")
    advise.add_argument("path")
    advise.add_argument("--env", action="append", default=[], help="runtime environment(s)")
    advise.add_argument("--node-class", help="lock for this node class instead")
    advise.add_argument("--force", action="store_true", help="skip the result cache")
    advise.add_argument("--write", action="store_true", help="write the lock(s) and hooks")
    advise.add_argument("--config")
    advise.set_defaults(run=_advise)

    replay = commands.add_parser("replay", help="send a recorded webhook body to a running bot")
    replay.add_argument("file")
    replay.add_argument("--event", required=True, help="push, pull_request... or 'Push Hook'")
    replay.add_argument("--forge", choices=("github", "gitlab"), default="github")
    replay.add_argument("--url", default="http://127.0.0.1:8080")
    replay.add_argument("--delivery")
    replay.add_argument(
        "--again",
        action="store_true",
        help="a deliberate replay of a body the bot already ran (a marked, re-signed copy)",
    )
    replay.add_argument("--config")
    replay.set_defaults(run=_replay)

    node_classes = commands.add_parser(
        "node-classes",
        help="node classes from the cluster's nodes (NFD and GPU Feature Discovery labels)",
    )
    actions = node_classes.add_subparsers(required=True, metavar="ACTION")
    found = actions.add_parser("discover", help="group the nodes and print node classes")
    found.add_argument("--kubeconfig", help="else the pod's service account")
    found.add_argument("--config", help="the configuration to keep names from and compare with")
    found.add_argument("--write", metavar="FILE", help="write the configuration to FILE")
    found.set_defaults(run=_discover)

    check = commands.add_parser("check-config", help="validate the configuration")
    check.add_argument("--config")
    check.set_defaults(run=_check_config)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from bot.serve import serve

    settings = load_settings(args.config)
    missing = missing_webhook_secrets(settings.github, settings.gitlab)
    if missing and not args.insecure_skip_verify:
        raise ConfigError(unverifiable(missing))
    if args.insecure_skip_verify:
        log.warning(
            "!!! --insecure-skip-verify: webhook signatures are NOT checked. Anyone who "
            "can reach this port can make the bot act. Never run like this in production."
        )
    if settings.github is None and settings.gitlab is None:
        log.warning(
            "No forge configured: set GITHUB_APP_ID, GITHUB_PRIVATE_KEY(_PATH) and "
            "GITHUB_WEBHOOK_SECRET for GitHub, or GITLAB_TOKEN and GITLAB_WEBHOOK_SECRET for "
            "GitLab. Serving health endpoints only."
        )
    serve(
        settings,
        host=args.host,
        port=args.port,
        verify=not args.insecure_skip_verify,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.embedded:  # the job process `serve` starts
        from bot.embedded_worker import run_job_process

        uvloop.run(run_job_process(settings))
        return 0
    if not settings.redis_url:
        raise ConfigError(
            "`thoth-bot worker` runs jobs of the distributed mode. Fix: set REDIS_URL, or use "
            "`thoth-bot serve`, which runs the jobs itself (in a job process it starts)."
        )
    require_arq()
    from bot.worker import run_worker

    uvloop.run(run_worker(settings))
    return 0


def _resolver(args: argparse.Namespace) -> int:
    """`thoth-bot resolver`: refuses to start with any credential in its environment."""
    from bot.advisers.local.remote import CREDENTIALS, serve_resolutions
    from bot.advisers.local.sandbox import UNAVAILABLE, bwrap

    held = [name for name in CREDENTIALS if os.environ.get(name)]
    if held:
        raise ConfigError(
            f"`thoth-bot resolver` runs code that packages chose, so it must hold no "
            f"credential, and its environment has {', '.join(held)}. Fix: start it without "
            "them (its Deployment mounts no Secret; it needs only REDIS_URL and the "
            "configuration)."
        )
    settings = load_settings(args.config)
    if not settings.redis_url:
        raise ConfigError(
            "`thoth-bot resolver` runs the resolutions of the distributed mode. Fix: set "
            "REDIS_URL (a Redis user limited to the resolver's keys, see docs/security.md)."
        )
    if settings.builds == "isolated" and bwrap() is None:
        raise ConfigError(UNAVAILABLE.replace("in the embedded mode", "on a resolver"))
    require_arq()
    uvloop.run(serve_resolutions(settings))
    return 0


def _advise(args: argparse.Namespace) -> int:
    from bot.local_advise import advise_checkout

    settings = load_settings(args.config)
    return asyncio.run(
        advise_checkout(
            settings,
            args.path,
            environments=args.env,
            node_class=args.node_class,
            force=args.force,
            write=args.write,
        )
    )


def _replay(args: argparse.Namespace) -> int:
    from bot.replay import replay

    return asyncio.run(
        replay(
            args.file,
            event=args.event,
            forge=args.forge,
            url=args.url,
            delivery=args.delivery,
            again=args.again,
        )
    )


def _discover(args: argparse.Namespace) -> int:
    from bot.cluster.command import discover_command

    return discover_command(args.kubeconfig, args.config, args.write)


def _check_config(args: argparse.Namespace) -> int:
    from bot.config_check import problems

    settings, found = problems(args.config, os.environ)
    if found or settings is None:
        print(f"thoth-bot: {len(found)} problem(s) in the configuration:", file=sys.stderr)
        for problem in found:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    source = settings.config_path or "the built-in default configuration"
    print(f"configuration: {source}")
    print(f"default node class: {settings.default_node_class}")
    for node_class in settings.node_classes.values():
        print(f"  - {node_class.describe()}")
    print(
        f"adviser: {settings.adviser}"
        + (f" ({settings.thoth_host})" if settings.thoth_host else "")
    )
    github = settings.github
    print(f"GitHub: {'configured at ' + github.api_url if github else 'not configured'}")
    print(
        f"GitLab: {'configured at ' + settings.gitlab.url if settings.gitlab else 'not configured'}"
    )
    print(f"jobs: {'Redis (distributed)' if settings.redis_url else 'embedded (SQLite)'}")
    print(f"state directory: {settings.state_dir}")
    if github is None and settings.gitlab is None:
        print(
            "warning: no forge is configured; `serve` will answer health checks only. Set "
            "GITHUB_APP_ID, GITHUB_PRIVATE_KEY(_PATH) and GITHUB_WEBHOOK_SECRET, or "
            "GITLAB_TOKEN and GITLAB_WEBHOOK_SECRET."
        )
    print("configuration OK")
    return 0
