"""Whether a source distribution holds code to compile, from the names of its files.

A package locked without a wheel for the node class is built during the s2i build. Built
from pure-Python sources, that is a `py3-none-any` wheel made in a moment; with C, C++,
Cython, Fortran, Rust or CUDA sources (or a CMake, Meson or Cargo build), it needs a compiler
and the libraries the code links to in the builder image. The archive comes from an index the
operator allows, through the egress proxy, and is read as data only: its member names, never
its contents, within bounds of download size, members and decompressed bytes. Where it cannot
be told, the answer is "compiles" (the cautious warning).
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import zipfile
from collections.abc import Mapping
from typing import IO
from urllib.parse import urlsplit

import aiohttp

from bot.advisers.local.uv_process import Index

DOWNLOAD_LIMIT = 64 * 1024 * 1024  # bytes of one sdist fetched to look inside
UNPACKED_LIMIT = 256 * 1024 * 1024  # bytes a .tar.gz may expand to while its names are read
MEMBER_LIMIT = 20_000  # files of one sdist
AT_ONCE = 4  # sdists fetched at once (each up to DOWNLOAD_LIMIT in memory)
COMPILED_SUFFIXES = (
    ".c", ".cc", ".cpp", ".cxx", ".c++", ".pyx", ".f", ".f90", ".f95", ".for", ".rs", ".go",
    ".cu", ".m", ".mm",
)  # fmt: skip
BUILD_FILES = ("CMakeLists.txt", "meson.build", "Cargo.toml")
TIMEOUT = aiohttp.ClientTimeout(total=120, connect=30)


async def compiled(wanted: Mapping[str, tuple[str, Index]], *, proxy: str) -> dict[str, bool]:
    """{key: whether the sdist at URL holds code to compile} for {key: (URL, its index)}."""
    slots = asyncio.Semaphore(AT_ONCE)

    async def one(url: str, index: Index) -> bool:
        async with slots:
            return await _compiles(session, proxy, url, index)

    async with aiohttp.ClientSession(timeout=TIMEOUT, trust_env=False) as session:
        found = await asyncio.gather(*(one(url, index) for url, index in wanted.values()))
    return dict(zip(wanted, found, strict=True))


async def _compiles(session: aiohttp.ClientSession, proxy: str, url: str, index: Index) -> bool:
    auth = None
    if index.credentials is not None and _origin(url) == _origin(index.url):
        auth = aiohttp.BasicAuth(index.credentials.username, index.credentials.password)
    try:
        async with session.get(
            url, proxy=proxy, auth=auth, allow_redirects=auth is None
        ) as response:
            if response.status != 200:
                return True
            body = bytearray()
            async for chunk in response.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) > DOWNLOAD_LIMIT:
                    return True
    except (aiohttp.ClientError, TimeoutError):
        return True
    names = await asyncio.to_thread(member_names, bytes(body), url.rsplit("/", 1)[-1])
    return names is None or any(_compiles_name(name) for name in names)


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def member_names(data: bytes, filename: str) -> list[str] | None:
    """The file names inside an sdist archive, or None where they cannot be read in bounds."""
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
            return names if len(names) <= MEMBER_LIMIT else None
        stream = _Bounded(io.BytesIO(data), UNPACKED_LIMIT)
        names = []
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                names.append(member.name)
                if len(names) > MEMBER_LIMIT:
                    return None
        return names
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, ValueError):
        return None


def _compiles_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base in BUILD_FILES or base.lower().endswith(COMPILED_SUFFIXES)


class _Bounded(io.RawIOBase):
    """An sdist's tar stream (gunzipped where it is gzip), failing past `limit` bytes."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        import gzip

        self.inner: IO[bytes] = raw
        head = raw.read(2)
        raw.seek(0)
        if head == b"\x1f\x8b":
            self.inner = gzip.GzipFile(fileobj=raw)
        self.left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(min(len(buffer), 1 << 16))
        self.left -= len(data)
        if self.left < 0:
            raise ValueError("the archive unpacks past its bound")
        buffer[: len(data)] = data
        return len(data)
