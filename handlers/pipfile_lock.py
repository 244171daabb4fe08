"""Pipfile.lock as pipenv writes it, and what changed between two locks.

`render_lock` produces the exact bytes pipenv 2026.10.3 writes (`_LockFileEncoder`: JSON with
indent 4, `", "`/`": "` separators, sorted keys, ASCII escapes, then a newline) with the
`_meta` pipenv would put there, so `pipenv verify` and `pipenv install --deploy` accept it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name

from handlers import limits
from handlers.pipfile import Pipfile
from handlers.problems import Problem

PIPFILE_SPEC = 6  # plette's PIPFILE_SPEC_CURRENT


@dataclass(frozen=True)
class RenderedLock:
    text: str  # the Pipfile.lock, byte for byte as pipenv writes it
    hash_corrected: bool  # the backend's `_meta.hash.sha256` was missing or wrong
    lock: dict[str, Any]  # the mapping `text` encodes


@dataclass(frozen=True)
class VersionChange:
    section: str  # "default", "develop" or a custom category
    package: str
    old: str | None  # None: the package is new
    new: str | None  # None: the package was removed
    why: str = ""  # for people: "newer release", "fixes PYSEC-2023-62 (CVE-2023-30861)"...


def render_lock(lock: Mapping[str, Any], pipfile: Pipfile) -> RenderedLock:
    """The Pipfile.lock pipenv would write for `lock` beside `pipfile`; `lock` is not modified.

    `_meta.hash.sha256` becomes the Pipfile's hash and `_meta.pipfile-spec` 6; `_meta.requires`
    and `_meta.sources` come from the Pipfile when the lock lacks them (as pipenv's
    `Lockfile.meta()` builds them); `default` and `develop` exist, empty if need be.
    """
    final: dict[str, Any] = copy.deepcopy(dict(lock))
    meta = final.get("_meta")
    meta = final["_meta"] = dict(meta) if isinstance(meta, Mapping) else {}
    old_hash = meta.get("hash")
    hash_corrected = not (isinstance(old_hash, Mapping) and old_hash.get("sha256") == pipfile.hash)
    meta["hash"] = {"sha256": pipfile.hash}
    meta["pipfile-spec"] = PIPFILE_SPEC
    if "requires" not in meta:
        meta["requires"] = copy.deepcopy(pipfile.requires)
    if "sources" not in meta:
        meta["sources"] = [populate_source(source) for source in pipfile.sources]
    for section in ("default", "develop"):
        if final.get(section) is None:
            final[section] = {}
    return RenderedLock(text=encode_lock(final), hash_corrected=hash_corrected, lock=final)


def encode_lock(lock: Mapping[str, Any]) -> str:
    """`lock` encoded exactly as pipenv writes a Pipfile.lock (trailing newline included)."""
    text = json.dumps(lock, indent=4, separators=(",", ": "), sort_keys=True)
    return text if text.endswith("\n") else text + "\n"


def parse_lock(path: str, text: str) -> dict[str, Any] | None:
    """The lock in `text` (the file at `path`); None when it is empty or unreadable.

    A broken lock is not a problem for the bot: it is replaced by the new one. So is one over
    the size limit, unread, or nested past any real lock's depth.
    """
    text = text.removeprefix("\ufeff")  # pipenv reads locks as utf-8-sig
    if not text.strip():
        return None
    try:
        limits.check_size(path, text, limits.LOCK_BYTES)
        data = json.loads(text)
        limits.check_depth(path, data)
    except (ValueError, RecursionError, Problem):
        return None
    return data if isinstance(data, dict) else None


def pinned_versions(lock: Mapping[str, Any]) -> dict[str, str]:
    """{canonical name: version} of every `==` pin of a lock's sections."""
    found = {}
    for section, entries in lock.items():
        if section == "_meta" or not isinstance(entries, Mapping):
            continue
        for name, entry in entries.items():
            version = entry.get("version") if isinstance(entry, Mapping) else None
            if isinstance(version, str) and version.startswith("=="):
                found[canonicalize_name(name)] = version[2:]
    return found


def version_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[VersionChange]:
    """Packages added, removed or moved to another version between locks `old` and `new`.

    Versions lose their leading `==`; an entry without a version (VCS, path) is described by
    its `ref`, `path`, `file` or `*`. Names are compared PEP 503-canonicalised. Sorted by
    section, then package.
    """
    old = old or {}
    changes = []
    for section in sorted((set(old) | set(new)) - {"_meta"}):
        before = _versions(old.get(section))
        after = _versions(new.get(section))
        for key in before.keys() | after.keys():
            old_name, old_version = before.get(key, (None, None))
            new_name, new_version = after.get(key, (None, None))
            if old_version != new_version:
                changes.append(
                    VersionChange(section, new_name or old_name, old_version, new_version)
                )
    return sorted(changes, key=lambda change: (change.section, change.package))


def _versions(section: Any) -> dict[str, tuple[str, str]]:
    if not isinstance(section, Mapping):
        return {}
    return {canonicalize_name(name): (name, _version(entry)) for name, entry in section.items()}


def _version(entry: Any) -> str:
    if isinstance(entry, str):
        return entry.lstrip("=") or "*"
    if isinstance(entry, Mapping):
        for key in ("version", "ref", "path", "file"):
            if isinstance(entry.get(key), str) and entry[key]:
                return entry[key].lstrip("=") if key == "version" else entry[key]
    return "*"


def populate_source(source: Mapping[str, Any]) -> dict[str, Any]:
    """A [[source]] as pipenv's `Sources.populate_source` completes it for `_meta.sources`."""
    populated = dict(source)
    populated.setdefault("verify_ssl", "https://" in populated["url"])
    if not isinstance(populated["verify_ssl"], bool):
        populated["verify_ssl"] = str(populated["verify_ssl"]).lower() == "true"
    return populated
