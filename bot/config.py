"""The bot's own configuration (SPEC §5.1): a YAML file of node classes plus the environment.

`load_settings()` raises `ConfigError` with a message that says what is wrong and how to fix it;
the command line turns that into exit status 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bot.advisers.local.egress import DEFAULT_INDEXES, Entry
from bot.advisers.local.indexes import IndexPolicy, parse_credentials
from bot.advisers.local.rules import RULE_SCHEMA, Rule, merge, parse_rules, shipped_rules
from bot.advisers.local.sandbox import UNAVAILABLE as SANDBOX_UNAVAILABLE
from bot.advisers.local.sandbox import bwrap
from bot.cluster.refresh import NodeDiscovery
from bot.maintenance.cadence import Cadence
from handlers.adviser import Hardware, NodeClass
from handlers.repo_config import SCHEDULES
from handlers.yaml_source import YamlSource, describe_schema_error, first_schema_error

DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_OSV_URL = "https://api.osv.dev"
DEFAULT_GITLAB_URL = "https://gitlab.com"

_STRING_OR_NULL = {"type": ["string", "null"]}
_VERSION = {"type": ["string", "null"], "pattern": r"^[0-9][0-9A-Za-z.+-]*$"}

NODE_CLASS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["hardware", "python_version", "platform"],
    "additionalProperties": False,
    "properties": {
        "hardware": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "cpu_family": {"type": ["integer", "null"]},
                "cpu_model": {"type": ["integer", "null"]},
                "cpu_flags": {"type": "array", "items": {"type": "string"}},
                "gpu_model": _STRING_OR_NULL,
            },
        },
        "operating_system": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "version"],
            "properties": {"name": _STRING_OR_NULL, "version": _STRING_OR_NULL},
        },
        "python_version": {"type": "string", "pattern": r"^3\.[0-9]+$"},
        "platform": {"type": "string", "pattern": r"^[a-z0-9]+[-_][a-z0-9_]+$"},
        "cuda_version": _VERSION,
        # The NVIDIA driver's version ("535.104.05") and the GPU's compute capability ("8.0"),
        # as GPU Feature Discovery labels them: the PyTorch CUDA build follows the driver.
        "cuda_driver_version": _VERSION,
        "compute_capability": _VERSION,
        "cudnn_version": _VERSION,
        "openblas_version": _VERSION,
        "openmpi_version": _VERSION,
        "mkl_version": _VERSION,
        "base_image": _STRING_OR_NULL,
        "node_selector": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["default_node_class", "node_classes"],
    "additionalProperties": False,
    "properties": {
        "default_node_class": {"type": "string"},
        "node_classes": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": r"^[a-zA-Z0-9_-]+$"},
            "additionalProperties": NODE_CLASS_SCHEMA,
        },
        "lock": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "labels": {"type": "array", "items": {"type": "string"}},
                "cache_ttl": {"type": ["string", "number"]},
            },
        },
        "node_discovery": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "refresh": {"type": ["string", "number"]},
                "grace": {"type": ["string", "number"]},
                "kubeconfig": {"type": "string"},
            },
        },
        "maintenance": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "schedule": {"type": ["string", "number", "boolean"]},
                "advisories": {"type": ["string", "number", "boolean"]},
                "per_installation": {"type": "integer", "minimum": 1},
                "tick": {"type": ["string", "number"]},
            },
        },
        "adviser": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "timeout": {"type": ["string", "number"]},
                "cool_down": {"type": ["string", "number"]},
                "rules": {"type": "array", "items": RULE_SCHEMA},
                "indexes": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "builds": {"enum": ["off", "isolated"]},
                "resolutions": {"type": "integer", "minimum": 1},
                "cache_size_mb": {"type": "integer", "minimum": 1},
                "credentials": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["index", "password_env"],
                        "additionalProperties": False,
                        "properties": {
                            "index": {"type": "string", "pattern": "^https?://[^@]+$"},
                            "username_env": {"type": "string"},
                            "password_env": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
}


class ConfigError(Exception):
    """The configuration cannot be used; the message says why and how to fix it."""


@dataclass(frozen=True)
class GitHubSettings:
    app_id: str
    private_key: str
    webhook_secret: str | None
    api_url: str = DEFAULT_GITHUB_API_URL


@dataclass(frozen=True)
class GitLabSettings:
    url: str
    token: str
    webhook_secret: str | None
    signing_token: str | None = None
    # A system hook's own secret token: then system hooks carry it, and project hooks (whose
    # token every project maintainer who added one knows) cannot pass for system hooks.
    system_hook_secret: str | None = None


@dataclass(frozen=True)
class Settings:
    node_classes: Mapping[str, NodeClass]
    default_node_class: str
    lock_labels: tuple[str, ...] = ("thoth", "dependencies")
    cache_ttl: float = 3 * 3600.0
    advise_timeout: float = 45 * 60.0
    github: GitHubSettings | None = None
    gitlab: GitLabSettings | None = None
    adviser: str = "local"
    thoth_host: str | None = None
    thoth_token: str | None = None
    redis_url: str | None = None
    state_dir: Path = Path(".thoth-bot")
    config_path: Path | None = None
    workers: int = 4
    max_attempts: int = 5  # a job that keeps failing stops after this many tries
    retry_base: float = 2.0  # first retry after about this long, doubling each time
    coalesce_window: float = 2.0  # pushes to one branch this close together run as one job
    lease: float = 30.0  # distributed mode: a dead worker's job is taken over after this long
    metrics_port: int = 8081  # `thoth-bot worker` serves /metrics and /healthz here (0: not)
    metrics_host: str = "0.0.0.0"
    warnings: tuple[str, ...] = field(default=())
    # The embedded adviser's hardware rules: the shipped ones, with the configuration's added
    # (a configured rule with a shipped rule's id replaces it).
    hardware_rules: tuple[Rule, ...] = field(default_factory=shipped_rules)
    # The embedded adviser's package indexes: which it may reach, with which credentials.
    index_policy: IndexPolicy = field(default_factory=IndexPolicy)
    # `isolated`: a package with no wheel is built, in the sandbox only (SPEC §10).
    builds: str = "off"
    resolutions: int = 2  # uv processes at once in this process (adviser.resolutions)
    cache_limit: int = 10 * 1024**3  # bytes of uv cache kept (adviser.cache_size_mb)
    # What a build must never see: the state directory, the App's key file.
    secret_paths: tuple[Path, ...] = ()
    # Known vulnerabilities: the OSV API, or `file://` an OSV export; None: not asked (`off`).
    osv_url: str | None = DEFAULT_OSV_URL
    # `stable` takes releases at least this old (seconds; a Pipfile's cool-down-period wins).
    cool_down: float = 7 * 86400.0
    # Lock maintenance: how often repositories are re-advised, and checked for advisories.
    maintenance: Cadence = field(default_factory=Cadence)
    # The declared node classes kept true from the cluster's nodes (None: as written).
    node_discovery: NodeDiscovery | None = None


def _redis_url(value: str | None) -> str | None:
    if not value:
        return None
    if value.startswith("unix://"):
        return value
    return _url(value, "REDIS_URL", ("redis", "rediss"), "redis://redis:6379/0")


def secrets_of(settings: Settings) -> list[str | None]:
    """Every value of the settings that must never be shown (logs scrub them)."""
    github, gitlab = settings.github, settings.gitlab
    return [
        github and github.private_key,
        github and github.webhook_secret,
        gitlab and gitlab.token,
        gitlab and gitlab.webhook_secret,
        gitlab and gitlab.signing_token,
        gitlab and gitlab.system_hook_secret,
        settings.thoth_token,
        _url_password(settings.redis_url),
        *(entry.credentials.password for entry in settings.index_policy.credentials),
        *(
            _url_password(rule.index.url)
            for rule in settings.hardware_rules
            if rule.index is not None
        ),
    ]


def _url_password(url: str | None) -> str | None:
    return urlsplit(url).password if url else None


def load_settings(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Settings from `path` (else $THOTH_BOT_CONFIG, else the built-in example) and `env`."""
    env = os.environ if env is None else env
    config_path = (
        Path(path)
        if path
        else (Path(env["THOTH_BOT_CONFIG"]) if env.get("THOTH_BOT_CONFIG") else None)
    )
    if config_path is not None:
        try:
            text = config_path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(
                f"cannot read the configuration file {config_path}: {error.strerror}. "
                "Fix: pass an existing file with --config or THOTH_BOT_CONFIG."
            ) from None
        shown = str(config_path)
    else:
        text = resources.files("bot").joinpath("data/default-config.yaml").read_text("utf-8")
        shown = "the built-in default configuration"
    node_classes, default_class, lock, adviser, maintenance, discovery = _parse_file(text, shown)
    thoth_host = _thoth_host(env.get("THOTH_HOST"))
    adviser_kind = env.get("THOTH_BOT_ADVISER") or ("thoth" if thoth_host else "local")
    if adviser_kind not in ("thoth", "local"):
        raise ConfigError(
            f"THOTH_BOT_ADVISER={adviser_kind!r} is not a backend. "
            "Fix: set it to `thoth` or `local`."
        )
    if adviser_kind == "thoth" and not thoth_host:
        raise ConfigError(
            "THOTH_BOT_ADVISER=thoth needs a Thoth user-API. Fix: set THOTH_HOST "
            "(a host name, or a URL such as http://thoth.example:8080)."
        )
    state_dir = Path(env.get("THOTH_BOT_STATE_DIR") or ".thoth-bot")
    key_path = env.get("GITHUB_PRIVATE_KEY_PATH")
    return Settings(
        node_classes=node_classes,
        default_node_class=default_class,
        lock_labels=tuple(lock.get("labels", ("thoth", "dependencies"))),
        cache_ttl=parse_duration(lock.get("cache_ttl", "3h"), "lock.cache_ttl"),
        advise_timeout=parse_duration(adviser.get("timeout", "45m"), "adviser.timeout"),
        github=github_settings(env),
        gitlab=gitlab_settings(env),
        adviser=adviser_kind,
        thoth_host=thoth_host,
        thoth_token=env.get("THOTH_TOKEN") or None,
        redis_url=_redis_url(env.get("REDIS_URL")),
        state_dir=state_dir,
        config_path=config_path,
        workers=_positive_int(env.get("THOTH_BOT_WORKERS", "4"), "THOTH_BOT_WORKERS"),
        max_attempts=_positive_int(
            env.get("THOTH_BOT_MAX_ATTEMPTS", "5"), "THOTH_BOT_MAX_ATTEMPTS"
        ),
        retry_base=parse_duration(env.get("THOTH_BOT_RETRY_BASE", "2s"), "THOTH_BOT_RETRY_BASE"),
        coalesce_window=parse_duration(
            env.get("THOTH_BOT_COALESCE_WINDOW", "2s"), "THOTH_BOT_COALESCE_WINDOW"
        ),
        lease=parse_duration(env.get("THOTH_BOT_LEASE", "30s"), "THOTH_BOT_LEASE"),
        metrics_port=_port(env.get("METRICS_PORT", "8081"), "METRICS_PORT"),
        metrics_host=env.get("METRICS_HOST") or "0.0.0.0",
        hardware_rules=merge(shipped_rules(), parse_rules(adviser.get("rules") or [])),
        index_policy=_index_policy(adviser, env),
        # Where resolutions run here (the embedded mode), builds need the sandbox here; in the
        # distributed mode they run on `thoth-bot resolver`, which checks for itself.
        builds=_builds(adviser.get("builds", "off"), locally=not env.get("REDIS_URL")),
        resolutions=int(adviser.get("resolutions") or os.cpu_count() or 2),
        cache_limit=int(adviser.get("cache_size_mb", 10240)) * 1024**2,
        secret_paths=(state_dir, *((Path(key_path),) if key_path else ())),
        osv_url=_osv_url(env.get("THOTH_BOT_OSV_URL")),
        cool_down=parse_duration(adviser.get("cool_down", "7d"), "adviser.cool_down"),
        maintenance=_cadence(maintenance),
        node_discovery=_node_discovery(discovery),
    )


def _node_discovery(section: Mapping[str, Any] | None) -> NodeDiscovery | None:
    if section is None:
        return None
    return NodeDiscovery(
        refresh=parse_duration(section.get("refresh", "1h"), "node_discovery.refresh"),
        grace=parse_duration(section.get("grace", "1d"), "node_discovery.grace"),
        kubeconfig=section.get("kubeconfig"),
    )


def _cadence(section: Mapping[str, Any]) -> Cadence:
    """The `maintenance` section: `schedule` and `advisories` are daily, weekly, monthly, off
    or a duration; `tick` a duration."""

    def every(name: str, default: str) -> float | None:
        value = section.get(name, default)
        if value is False or value == "off":
            return None
        if value in SCHEDULES:
            return SCHEDULES[value]
        return parse_duration(value, f"maintenance.{name}")

    return Cadence(
        schedule=every("schedule", "weekly"),
        advisories=every("advisories", "daily"),
        per_installation=int(section.get("per_installation", 60)),
        tick=parse_duration(section.get("tick", "1m"), "maintenance.tick"),
    )


def _osv_url(value: str | None) -> str | None:
    """THOTH_BOT_OSV_URL: the OSV API (default), `off`, or file:///path/all.zip (an export)."""
    if value is None or value == "":
        return DEFAULT_OSV_URL
    if value == "off":
        return None
    if value.startswith("file://"):
        if not value.endswith(".zip"):
            raise ConfigError(
                f"THOTH_BOT_OSV_URL={value!r} names a file that is not a zip. Fix: name OSV's "
                "PyPI export, like file:///var/lib/osv/PyPI/all.zip."
            )
        return value
    return _url(value, "THOTH_BOT_OSV_URL", ("http", "https"), DEFAULT_OSV_URL)


def _builds(value: str, *, locally: bool = True) -> str:
    """`isolated` only where builds can be isolated: the bubblewrap sandbox."""
    if value == "isolated" and locally and bwrap() is None:
        raise ConfigError(SANDBOX_UNAVAILABLE)
    return value


def _index_policy(adviser: Mapping[str, Any], env: Mapping[str, str]) -> IndexPolicy:
    allowed = tuple(adviser.get("indexes") or DEFAULT_INDEXES)
    for entry in allowed:
        try:
            Entry.parse(entry)
        except ValueError as error:
            raise ConfigError(
                f"adviser.indexes: {error}. Fix: list index URLs (https://pypi.org/simple), "
                "host names (files.pythonhosted.org) or IP networks (10.20.0.0/16)."
            ) from None
    credentials = adviser.get("credentials") or []
    for entry in credentials:
        for key in ("username_env", "password_env"):
            if entry.get(key) and entry[key] not in env:
                raise ConfigError(
                    f"adviser.credentials for {entry['index']} names {entry[key]}, which is not "
                    f"set. Fix: set {entry[key]} in the bot's environment (from a Secret)."
                )
    return IndexPolicy(allowed, parse_credentials(credentials, env))


def _parse_file(
    text: str, shown: str
) -> tuple[dict[str, NodeClass], str, dict, dict, dict, dict | None]:
    try:
        source = YamlSource(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark is not None else shown
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(
            f"{where}: not valid YAML ({problem}). Fix: correct the syntax there."
        ) from None
    error = first_schema_error(CONFIG_SCHEMA, source.data)
    if error is not None:
        line = source.line(list(error.absolute_path))
        raise ConfigError(
            f"{shown}:{line}: {describe_schema_error(error)}. Fix: see the configuration "
            "reference in docs/operator-guide.md (node classes need hardware, python_version "
            "and platform)."
        )
    data = source.data
    node_classes = {name: _node_class(name, spec) for name, spec in data["node_classes"].items()}
    default_class = data["default_node_class"]
    if default_class not in node_classes:
        raise ConfigError(
            f"{shown}:{source.line(['default_node_class'])}: default_node_class {default_class!r} "
            f"is not declared. Fix: use one of {', '.join(sorted(node_classes))}."
        )
    return (
        node_classes,
        default_class,
        data.get("lock") or {},
        data.get("adviser") or {},
        data.get("maintenance") or {},
        data.get("node_discovery") if "node_discovery" in data else None,
    )


def _node_class(name: str, spec: Mapping[str, Any]) -> NodeClass:
    hardware = spec.get("hardware") or {}
    operating_system = spec.get("operating_system") or {}
    return NodeClass(
        name=name,
        hardware=Hardware(
            cpu_family=hardware.get("cpu_family"),
            cpu_model=hardware.get("cpu_model"),
            cpu_flags=tuple(hardware.get("cpu_flags") or ()),
            gpu_model=hardware.get("gpu_model"),
        ),
        python_version=spec["python_version"],
        platform=spec["platform"],
        os_name=operating_system.get("name"),
        os_version=operating_system.get("version"),
        cuda_version=spec.get("cuda_version"),
        cuda_driver_version=spec.get("cuda_driver_version"),
        compute_capability=spec.get("compute_capability"),
        cudnn_version=spec.get("cudnn_version"),
        openblas_version=spec.get("openblas_version"),
        openmpi_version=spec.get("openmpi_version"),
        mkl_version=spec.get("mkl_version"),
        base_image=spec.get("base_image"),
        node_selector=tuple(sorted((spec.get("node_selector") or {}).items())),
    )


def github_settings(env: Mapping[str, str]) -> GitHubSettings | None:
    app_id = env.get("GITHUB_APP_ID")
    if not app_id:
        return None
    if not app_id.strip().isdigit():
        raise ConfigError(
            f"GITHUB_APP_ID={app_id!r} is not a number. Fix: the App ID shown on the App's "
            "settings page (General, About)."
        )
    key = env.get("GITHUB_PRIVATE_KEY")
    key_path = env.get("GITHUB_PRIVATE_KEY_PATH")
    if not key and key_path:
        try:
            key = Path(key_path).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(
                f"GITHUB_PRIVATE_KEY_PATH={key_path} cannot be read: {error.strerror}. "
                "Fix: point it at the App's private key (.pem) downloaded from the App's settings."
            ) from None
    if not key:
        raise ConfigError(
            "GITHUB_APP_ID is set but the App's private key is missing. Fix: set "
            "GITHUB_PRIVATE_KEY (the PEM text) or GITHUB_PRIVATE_KEY_PATH."
        )
    if "PRIVATE KEY-----" not in key:
        raise ConfigError(
            "The GitHub App's private key is not PEM text. Fix: use the .pem file GitHub "
            "generated for the App (it starts with -----BEGIN RSA PRIVATE KEY-----)."
        )
    return GitHubSettings(
        app_id=app_id,
        private_key=key,
        webhook_secret=env.get("GITHUB_WEBHOOK_SECRET") or None,
        api_url=_url(
            env.get("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL,
            "GITHUB_API_URL",
            ("http", "https"),
            "https://api.github.com or https://github.example.com/api/v3",
        ),
    )


def gitlab_settings(env: Mapping[str, str]) -> GitLabSettings | None:
    token = env.get("GITLAB_TOKEN")
    if not token:
        return None
    signing = env.get("GITLAB_WEBHOOK_SIGNING_TOKEN") or None
    if signing is not None and not signing.startswith("whsec_"):
        raise ConfigError(
            "GITLAB_WEBHOOK_SIGNING_TOKEN must be the `whsec_...` token GitLab shows for the "
            "hook. Fix: copy it from the hook's settings, or unset it (signatures not checked)."
        )
    return GitLabSettings(
        url=_url(
            env.get("GITLAB_URL") or DEFAULT_GITLAB_URL,
            "GITLAB_URL",
            ("http", "https"),
            "https://gitlab.com or https://gitlab.example.com",
        ),
        token=token,
        webhook_secret=env.get("GITLAB_WEBHOOK_SECRET") or None,
        signing_token=signing,
        system_hook_secret=env.get("GITLAB_SYSTEM_HOOK_SECRET") or None,
    )


def _url(value: str, name: str, schemes: tuple[str, ...], example: str) -> str:
    """`value` when it is an absolute URL with one of `schemes` and a host."""
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(
            f"{name}={value!r} is not a {' or '.join(schemes)} URL. Fix: write it in full, "
            f"like {example}."
        )
    return value.rstrip("/")


_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$")


def _thoth_host(value: str | None) -> str | None:
    """THOTH_HOST: a host name (https is meant) or a full URL."""
    if not value:
        return None
    if "://" in value:
        return _url(value, "THOTH_HOST", ("http", "https"), "https://thoth.example.com")
    if not _HOST.match(value):
        raise ConfigError(
            f"THOTH_HOST={value!r} is neither a host name nor a URL. Fix: a host name such as "
            "thoth.example.com, or a URL such as http://thoth.example.com:8080."
        )
    return value


def missing_webhook_secrets(
    github: GitHubSettings | None, gitlab: GitLabSettings | None
) -> list[str]:
    """The webhook secret variables a configured forge lacks (its deliveries could not be
    verified)."""
    return [
        name
        for name, forge in (("GITHUB_WEBHOOK_SECRET", github), ("GITLAB_WEBHOOK_SECRET", gitlab))
        if forge is not None and not forge.webhook_secret
    ]


def unverifiable(missing: list[str]) -> str:
    """What to say when `missing_webhook_secrets` found some."""
    return (
        f"{', '.join(missing)} is not set: deliveries could not be verified. Fix: set it to the "
        "webhook secret configured on the forge (or pass --insecure-skip-verify to `serve` for a "
        "local experiment)."
    )


def require_arq() -> None:
    """The distributed mode (REDIS_URL) needs the `distributed` extra."""
    try:
        import arq  # noqa: F401
    except ImportError:
        raise ConfigError(
            "REDIS_URL asks for the distributed mode, which needs arq. Fix: pip install "
            "'thoth-bot[distributed]', or unset REDIS_URL."
        ) from None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: str | float, name: str) -> float:
    """'3h' -> 10800.0; plain numbers are seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ConfigError(
            f"{name}: {value!r} is not a duration. Fix: write it like 90s, 30m or 3h."
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def _positive_int(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(f"{name}={value!r} must be a positive whole number. Fix: such as 4.")
    return number


def _port(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise ConfigError(
            f"{name}={value!r} is not a port. Fix: a number from 1 to 65535 (0: off)."
        )
    return number
