"""A repository the bot was just given gets one onboarding merge request (SPEC §7.4).

If it has a Pipfile (at the root, or in the overlays its `.thoth.yaml` declares), the merge
request holds its lock(s), the `.s2i` hooks and, where missing, a `.thoth.yaml` whose one
runtime environment targets the cluster's default node class. Repositories without a Pipfile
get nothing. It is the bot's usual merge request (`thoth-bot/lock/<default branch>`), so a later
push refreshes it instead of opening a second one.
"""

from __future__ import annotations

import yaml

from handlers import s2i
from handlers.context import Context, Policy
from handlers.ensure import report_failure
from handlers.events import OnboardEvent
from handlers.forge import FileContent, NotFound
from handlers.plan import Problems
from handlers.proposal import read_branch, read_checkout, update_lock_request
from handlers.repo_config import CONFIG_PATH, MANAGER_NAME
from handlers.served import note_checkout


async def on_onboard(event: OnboardEvent, ctx: Context) -> None:
    repo = await ctx.forge.repository(event.full_name)
    try:
        snapshot = await read_branch(ctx, repo, repo.default_branch)
    except NotFound:
        ctx.log.info(
            "%s has no %s branch yet: nothing to onboard", repo.full_name, repo.default_branch
        )
        return
    try:
        base = await read_checkout(ctx, repo, snapshot.sha, snapshot.files)
        await note_checkout(ctx.served, repo.full_name, base.config, base.files)
        present = [env for env in base.config.environments if base.files.get(env.pipfile_path)]
        if not present:
            ctx.log.info("%s has no Pipfile: nothing to onboard", repo.full_name)
            return
        extra = {}
        if not base.config.from_file:
            extra[CONFIG_PATH] = FileContent(initial_config(ctx.policy))
        await update_lock_request(ctx, snapshot, base, present, extra=extra)
    except Problems as failure:
        await report_failure(
            ctx.forge,
            repo,
            branch=snapshot.branch,
            snapshot=snapshot,
            problems=failure.problems,
            labels=ctx.policy.labels,
        )


def initial_config(policy: Policy) -> str:
    """A `.thoth.yaml` that `thamos check` accepts: one runtime environment, named after the
    default node class and carrying its profile, with every node class listed in comments."""
    name = policy.default_node_class
    node_class = policy.node_classes[name]
    environment: dict[str, object] = {"name": name, "labels": {"node_class": name}}
    hardware: dict[str, object] = {"gpu_model": node_class.hardware.gpu_model}
    for key in ("cpu_family", "cpu_model"):
        value = getattr(node_class.hardware, key)
        if value is not None:
            hardware[key] = value
    environment["hardware"] = hardware
    if node_class.os_name is not None:
        environment["operating_system"] = {
            "name": node_class.os_name,
            "version": node_class.os_version,
        }
    for key in ("cuda_version", "cudnn_version", "base_image"):
        environment[key] = getattr(node_class, key)
    environment["platform"] = node_class.platform
    environment["recommendation_type"] = "stable"
    document = {
        "host": s2i.thamos_host(policy.thoth_host) if policy.thoth_host else "thoth.example.com",
        "tls_verify": True,
        "requirements_format": "pipenv",
        "runtime_environments": [environment],
        "managers": [{"name": MANAGER_NAME, "configuration": {"hooks": True}}],
    }
    classes = "\n".join(
        f"#   {policy.node_classes[known].describe()}" for known in sorted(policy.node_classes)
    )
    header = f"""\
# Thamos's configuration (https://github.com/thoth-station/thamos), added by thoth-bot.
#
# thoth-bot locks the Pipfile of each runtime environment below for the hardware of the node
# class named by its `labels.node_class`. This cluster's node classes:
{classes}
# To lock for other hardware, set `node_class` to another of them. To run the application on
# several node classes, add one runtime environment per class, set `overlays_dir: overlays` and
# keep each environment's Pipfile in overlays/<name>/.
# The hardware, operating system and CUDA fields are for `thamos` in the s2i build
# (THOTH_ADVISE=1); thoth-bot itself takes them from the node class.
"""
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
