"""The `thoth` backend over real HTTP against the fake user-API, the result cache, and the fake
itself checked against the real Thamos client."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fakes.osv import FakeOsv, record
from fakes.thoth import FakeThoth
from tools import tool_bin

from bot.advisers.cache import CachedAdviser, SqliteAdviseCache
from bot.advisers.known_vulnerabilities import WithKnownVulnerabilities
from bot.advisers.osv import OsvApi
from bot.advisers.thoth import ThothAdviser, api_base_url, runtime_environment
from handlers.adviser import AdviseError, AdviseRequest, Guidance, Hardware, NodeClass

CPU = NodeClass(
    name="cpu-x86-64-v3",
    hardware=Hardware(cpu_family=6, cpu_model=85, cpu_flags=("avx", "avx2", "avx512f")),
    python_version="3.11",
    platform="linux-x86_64",
    os_name="rhel",
    os_version="9",
    base_image="registry.access.redhat.com/ubi9/python-311",
    node_selector=(("node.kubernetes.io/instance-type", "m5.2xlarge"),),
)
GPU = replace(
    CPU,
    name="gpu-a100",
    hardware=Hardware(
        cpu_family=6,
        cpu_model=106,
        cpu_flags=("avx", "avx2", "avx512f"),
        gpu_model="NVIDIA A100-SXM4-40GB",
    ),
    cuda_version="12.2",
    cudnn_version="8.9",
    node_selector=(("nvidia.com/gpu.product", "NVIDIA-A100-SXM4-40GB"),),
)
ORIGIN = "https://github.com/octo/app"


def pipfile(*packages: str, dev: tuple[str, ...] = ()) -> str:
    lines = [
        "[[source]]",
        'url = "https://pypi.org/simple"',
        "verify_ssl = true",
        'name = "pypi"',
        "",
        "[packages]",
        *(f'{name} = "*"' for name in packages),
        "",
        "[dev-packages]",
        *(f'{name} = "*"' for name in dev),
        "",
        "[requires]",
        'python_version = "3.11"',
    ]
    return "\n".join(lines) + "\n"


def request(*packages: str, node_class: NodeClass = CPU, **changes: object) -> AdviseRequest:
    fields: dict[str, object] = {
        "pipfile": pipfile(*packages),
        "pipfile_lock": "",
        "environment": "cpu" if node_class is CPU else "gpu",
        "node_class": node_class,
        "python_version": "3.11",
        "origin": ORIGIN,
        **changes,
    }
    return AdviseRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def thoth() -> Iterator[FakeThoth]:
    fake = FakeThoth().start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def _no_violations(thoth: FakeThoth) -> Iterator[None]:
    before = len(thoth.violations)
    yield
    assert thoth.violations[before:] == []


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def adviser(session: aiohttp.ClientSession, url: str, **options: object) -> ThothAdviser:
    settings: dict[str, object] = {"first_poll": 0.01, "max_poll": 0.05, **options}
    return ThothAdviser(session, host=url, **settings)  # type: ignore[arg-type]


# ---- pure functions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "base"),
    [
        ("thoth.example.com", "https://thoth.example.com/api/v1"),
        ("thoth.example.com/", "https://thoth.example.com/api/v1"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000/api/v1"),
        ("https://thoth.example.com/api/v1", "https://thoth.example.com/api/v1"),
        ("https://thoth.example.com/api/v1/", "https://thoth.example.com/api/v1"),
        ("https://example.com/thoth", "https://example.com/thoth/api/v1"),
    ],
)
def test_api_base_url(host: str, base: str) -> None:
    assert api_base_url(host) == base


def test_api_base_url_refuses_empty() -> None:
    with pytest.raises(ValueError):
        api_base_url("  ")


def test_runtime_environment_is_the_node_class_profile() -> None:
    env = runtime_environment(request("numpy", node_class=GPU, python_version="3.12"))
    assert env == {
        "name": "gpu",
        "hardware": {"cpu_family": 6, "cpu_model": 106, "gpu_model": "NVIDIA A100-SXM4-40GB"},
        "operating_system": {"name": "rhel", "version": "9"},
        "python_version": "3.12",  # the environment's, not the class's
        "cuda_version": "12.2",
        "cudnn_version": "8.9",
        "openblas_version": None,
        "openmpi_version": None,
        "mkl_version": None,
        "platform": "linux-x86_64",
        "base_image": "registry.access.redhat.com/ubi9/python-311",
    }


# ---- the protocol -------------------------------------------------------------------------


async def test_advise_sends_what_the_spec_says(
    thoth: FakeThoth, session: aiohttp.ClientSession
) -> None:
    thamos_adviser = adviser(session, thoth.url, token="s3cret")
    req = request("numpy", "flask", node_class=GPU, recommendation_type="performance")
    result = await thamos_adviser.advise(req)

    call = thoth.call(result.analysis_id or "")
    assert call.query == {
        "recommendation_type": "performance",
        "source_type": "kebechet",
        "origin": ORIGIN,
        "force": "false",
        "dev": "false",
        "debug": "false",
        "token": "s3cret",
    }
    assert call.body == {
        "application_stack": {
            "requirements": req.pipfile,
            "requirements_lock": "",
            "requirements_format": "pipenv",
        },
        "runtime_environment": runtime_environment(req),
    }
    assert "cpu_flags" not in json.dumps(call.body)
    assert "node_selector" not in json.dumps(call.body)
    assert call.polls == 2  # one 202, then the result

    assert result.backend == "thoth"
    assert result.analysis_id and result.analysis_id.startswith("adviser-")
    assert not result.cached
    assert result.lock["default"]["numpy"]["version"] == "==1.26.4"
    assert result.lock["default"]["flask"]["hashes"][0].startswith("sha256:")
    assert result.justification[0] == Guidance(
        "INFO",
        "Resolved for runtime environment 'gpu' on NVIDIA A100-SXM4-40GB with CUDA 12.2",
        "https://thoth-station.ninja/j/hardware",
    )
    assert result.stack_info and result.stack_info[0].type == "INFO"


async def test_options_reach_thoth(thoth: FakeThoth, session: aiohttp.ClientSession) -> None:
    """No token, no origin: the parameters are absent; force and dev are sent as asked."""
    req = request("requests", origin=None, force=True, dev=True, pipfile_lock='{"default": {}}')
    req = replace(req, pipfile=pipfile("requests", dev=("pytest",)))
    result = await adviser(session, thoth.url).advise(req)
    call = thoth.call(result.analysis_id or "")
    assert call.query == {
        "recommendation_type": "stable",
        "source_type": "kebechet",
        "force": "true",
        "dev": "true",
        "debug": "false",
    }
    assert call.body["application_stack"]["requirements_lock"] == '{"default": {}}'
    assert result.lock["develop"]["pytest"]["version"] == "==8.2.2"


async def test_the_hardware_changes_the_lock(
    thoth: FakeThoth, session: aiohttp.ClientSession
) -> None:
    thoth_adviser = adviser(session, thoth.url)
    cpu = await thoth_adviser.advise(request("torch", "tensorflow", "numpy"))
    gpu = await thoth_adviser.advise(request("torch", "tensorflow", "numpy", node_class=GPU))
    assert cpu.lock["default"]["torch"]["version"] == "==2.3.1"
    assert gpu.lock["default"]["torch"]["version"] == "==2.3.1+cu122"
    assert gpu.lock["default"]["torch"]["index"] == "pytorch-cu122"
    assert "pytorch-cu122" in {s["name"] for s in gpu.lock["_meta"]["sources"]}
    assert "nvidia-cudnn-cu12" in gpu.lock["default"]
    assert "nvidia-cudnn-cu12" not in cpu.lock["default"]
    assert cpu.lock["default"]["numpy"]["hashes"] != gpu.lock["default"]["numpy"]["hashes"]
    assert "CPU family 6 model 85" in cpu.justification[0].message
    assert any("CUDA 12.2 build of torch" in g.message for g in gpu.justification)


async def test_an_error_result_is_an_advise_error(
    thoth: FakeThoth, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(AdviseError) as caught:
        await adviser(session, thoth.url).advise(request("numpy", "thoth-error"))
    error = caught.value
    assert "thoth-error" in str(error)
    assert thoth.url in str(error)
    assert not error.retryable
    assert error.analysis_id and thoth.call(error.analysis_id)


async def test_a_400_poll_is_an_advise_error(
    thoth: FakeThoth, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(AdviseError) as caught:
        await adviser(session, thoth.url).advise(request("thoth-bad-request"))
    assert "made the adviser crash" in str(caught.value)
    assert thoth.url in str(caught.value)
    assert not caught.value.retryable


async def test_an_analysis_that_never_finishes_times_out(
    thoth: FakeThoth, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(AdviseError) as caught:
        await adviser(session, thoth.url, timeout=0.3).advise(request("thoth-never-ready"))
    error = caught.value
    assert error.retryable
    assert "did not answer" in str(error) and "0.3 seconds" in str(error)
    assert error.analysis_id and thoth.call(error.analysis_id).polls >= 3


async def test_an_unreachable_thoth_is_retryable(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(AdviseError) as caught:
        await adviser(session, f"http://127.0.0.1:{port}").advise(request("numpy"))
    assert caught.value.retryable
    assert f"http://127.0.0.1:{port}" in str(caught.value)


async def test_an_unavailable_thoth_is_retryable(session: aiohttp.ClientSession) -> None:
    with FakeThoth() as down:
        down.unavailable = True
        with pytest.raises(AdviseError) as caught:
            await adviser(session, down.url).advise(request("numpy"))
    assert caught.value.retryable
    assert "HTTP 503" in str(caught.value)


async def test_an_unavailable_thoth_during_polls_is_retried_then_given_up(
    session: aiohttp.ClientSession,
) -> None:
    with FakeThoth(pending_polls=1000) as flaky:
        task = asyncio.create_task(adviser(session, flaky.url).advise(request("numpy")))
        for _ in range(500):  # until the analysis has been polled twice
            if flaky.requests and flaky.requests[0].polls >= 2:
                break
            await asyncio.sleep(0.01)
        flaky.unavailable = True
        with pytest.raises(AdviseError) as caught:
            await task
    assert caught.value.retryable
    assert "3 times in a row" in str(caught.value)
    assert caught.value.analysis_id == flaky.requests[0].analysis_id


async def test_a_refused_token(session: aiohttp.ClientSession) -> None:
    with FakeThoth(token="right") as guarded:
        with pytest.raises(AdviseError) as caught:
            await adviser(session, guarded.url, token="wrong").advise(request("numpy"))
        assert "refused the bot's API token" in str(caught.value)
        assert not caught.value.retryable
        assert "wrong" not in str(caught.value)
        result = await adviser(session, guarded.url, token="right").advise(request("numpy"))
        assert result.lock["default"]["numpy"]
        assert guarded.violations == []


async def test_a_request_thoth_rejects(session: aiohttp.ClientSession) -> None:
    """The fake answers requests that break the document with 400 and records them."""
    with FakeThoth() as strict:
        with pytest.raises(AdviseError) as caught:
            await adviser(session, strict.url).advise(request("numpy", recommendation_type="best"))
        assert "rejected the advise request" in str(caught.value)
        assert "recommendation_type" in str(caught.value)
        assert not caught.value.retryable
        assert len(strict.violations) == 1 and "'best' is not one of" in strict.violations[0]


async def test_a_pipfile_thoth_cannot_parse(
    thoth: FakeThoth, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(AdviseError) as caught:
        await adviser(session, thoth.url).advise(request(pipfile="[packages\nnumpy = *\n"))
    assert "rejected the advise request: Invalid application stack supplied" in str(caught.value)
    assert not caught.value.retryable


async def test_a_platform_thoth_cannot_resolve_for(
    thoth: FakeThoth, session: aiohttp.ClientSession
) -> None:
    arm = replace(CPU, name="arm", platform="linux-aarch64")
    before = len(thoth.requests)
    with pytest.raises(AdviseError) as caught:
        await adviser(session, thoth.url).advise(request("numpy", node_class=arm))
    assert "linux-aarch64" in str(caught.value) and "'arm'" in str(caught.value)
    assert len(thoth.requests) == before


async def test_concurrent_advises_get_their_own_answers(
    thoth: FakeThoth, session: aiohttp.ClientSession
) -> None:
    thoth_adviser = adviser(session, thoth.url)
    requests = [
        request(
            "torch",
            f"pkg-{i}",
            node_class=GPU if i % 2 else CPU,
            environment=f"env-{i}",
        )
        for i in range(20)
    ]
    results = await asyncio.gather(*(thoth_adviser.advise(r) for r in requests))
    assert len({r.analysis_id for r in results}) == 20
    for i, result in enumerate(results):
        assert result.lock["default"][f"pkg-{i}"]["version"] == "==1.0.0"
        torch = result.lock["default"]["torch"]["version"]
        assert torch == ("==2.3.1+cu122" if i % 2 else "==2.3.1")
        assert f"'env-{i}'" in result.justification[0].message
        assert (
            thoth.call(result.analysis_id or "").body["runtime_environment"]["name"] == f"env-{i}"
        )


# ---- the cache ----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cached(
    thoth: FakeThoth, session: aiohttp.ClientSession, tmp_path: Path, clock: Clock
) -> CachedAdviser:
    store = SqliteAdviseCache(tmp_path / "state" / "advise-cache.sqlite3", clock=clock)
    return CachedAdviser(adviser(session, thoth.url), store, ttl=3 * 3600)


async def test_the_cache_answers_a_repeated_advise(thoth: FakeThoth, cached: CachedAdviser) -> None:
    assert cached.name == "thoth"
    first = await cached.advise(request("numpy", "cache-hit"))
    sent = len(thoth.requests)
    second = await cached.advise(request("numpy", "cache-hit"))
    assert len(thoth.requests) == sent
    assert not first.cached and second.cached
    assert (second.lock, second.justification, second.stack_info) == (
        first.lock,
        first.justification,
        first.stack_info,
    )
    assert (second.backend, second.analysis_id) == ("thoth", first.analysis_id)


async def test_force_skips_the_cache_and_refreshes_it(
    thoth: FakeThoth, cached: CachedAdviser
) -> None:
    first = await cached.advise(request("cache-force"))
    forced = await cached.advise(request("cache-force", force=True))
    assert not forced.cached and forced.analysis_id != first.analysis_id
    assert thoth.call(forced.analysis_id or "").query["force"] == "true"
    after = await cached.advise(request("cache-force"))
    assert after.cached and after.analysis_id == forced.analysis_id


@pytest.mark.parametrize(
    "change",
    [
        {"node_class": GPU, "environment": "cpu"},
        {"environment": "other"},
        {"python_version": "3.12"},
        {"recommendation_type": "latest"},
        {"pipfile_lock": '{"default": {}}'},
        {"pipfile": pipfile("cache-miss", "flask")},
    ],
)
async def test_a_different_advise_misses(
    thoth: FakeThoth, cached: CachedAdviser, change: dict[str, object]
) -> None:
    await cached.advise(request("cache-miss"))
    other = await cached.advise(request("cache-miss", **change))
    assert not other.cached


async def test_expired_entries_miss(cached: CachedAdviser, clock: Clock) -> None:
    await cached.advise(request("cache-expiry"))
    clock.now += 3 * 3600 - 1
    assert (await cached.advise(request("cache-expiry"))).cached
    clock.now += 2
    assert not (await cached.advise(request("cache-expiry"))).cached


async def test_errors_are_not_cached(thoth: FakeThoth, cached: CachedAdviser) -> None:
    for _ in range(2):
        with pytest.raises(AdviseError):
            await cached.advise(request("thoth-error", "cache-error"))
    assert sum("cache-error" in call.packages for call in thoth.requests) == 2


async def test_the_sqlite_cache_under_concurrent_use(tmp_path: Path, clock: Clock) -> None:
    store = SqliteAdviseCache(tmp_path / "cache.sqlite3", clock=clock)
    await asyncio.gather(*(store.put(f"k{i}", {"i": i}, ttl=10) for i in range(30)))
    values = await asyncio.gather(*(store.get(f"k{i}") for i in range(30)))
    assert values == [{"i": i} for i in range(30)]
    clock.now += 11
    assert await store.get("k0") is None
    await store.put("fresh", {"i": -1}, ttl=10)  # prunes the expired rows
    clock.now -= 11
    assert await store.get("k0") is None  # gone for good, not just hidden


# ---- the fake against the real client -----------------------------------------------------

THAMOS_SCRIPT = """
import json, sys
from thamos.config import config
from thamos.lib import advise
from thoth.common import ThothAdviserIntegrationEnum

args = json.load(sys.stdin)
config.explicit_host = args["host"]
config.tls_verify = False
result, error, _ = advise(
    args["pipfile"],
    "",
    recommendation_type="stable",
    runtime_environment=args["runtime_environment"],
    source_type=ThothAdviserIntegrationEnum.KEBECHET,
    origin=args["origin"],
    no_static_analysis=True,
    timeout=60,
    verify_tls=False,
)
json.dump({"result": result, "error": error}, sys.stdout)
"""


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


def test_the_real_thamos_client_gets_a_lock_from_the_fake(tmp_path: Path) -> None:
    python = tool_bin("thamos", "python")
    req = request("numpy", "torch", node_class=GPU)
    with FakeThoth(ssl_context=self_signed_tls(tmp_path)) as fake:
        completed = subprocess.run(
            [str(python), "-c", THAMOS_SCRIPT],
            input=json.dumps(
                {
                    "host": fake.host,
                    "pipfile": req.pipfile,
                    "runtime_environment": runtime_environment(req),
                    "origin": ORIGIN,
                }
            ),
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(tmp_path),
                "THAMOS_DISABLE_TLS_WARNING": "1",
                "THAMOS_NO_PROGRESSBAR": "1",
                "THAMOS_DISABLE_LAST_ANALYSIS_ID_FILE": "1",
            },
            timeout=120,
        )
        assert completed.returncode == 0, completed.stderr
        answer = json.loads(completed.stdout)
        assert fake.violations == []
        [call] = fake.requests
    assert answer["error"] is False
    product = answer["result"]["report"]["products"][0]
    assert product["project"]["requirements_locked"]["default"]["torch"]["version"] == (
        "==2.3.1+cu122"
    )
    assert product["justification"][0]["message"].startswith("Resolved for runtime environment")
    assert call.query["source_type"] == "kebechet"
    assert call.query["origin"] == ORIGIN
    assert call.body["runtime_environment"] == runtime_environment(req)
    assert call.polls == 3  # thamos: 202, 200 (ready), then it GETs the result once more


async def test_thoths_locks_get_the_known_vulnerabilities_left_in_them(
    thoth: FakeThoth, session: aiohttp.ClientSession
) -> None:
    with FakeOsv() as osv:
        osv.publish(record("PYSEC-2024-56"))  # Django 5.0 before 5.0.7 (CVE-2024-38875)
        checked = WithKnownVulnerabilities(adviser(session, thoth.url), OsvApi(session, osv.url))
        result = await checked.advise(request("django", "flask"))
        osv.unavailable = True
        unchecked = await checked.advise(request("django", force=True))

    assert result.lock["default"]["django"]["version"] == "==5.0.6"
    [warning] = [g for g in result.justification if g.type == "WARNING"]
    assert warning.message.startswith(
        "django 5.0.6 has a known vulnerability, PYSEC-2024-56 (CVE-2024-38875)"
    )
    assert "fixed in 5.0.7" in warning.message and warning.package == "django"
    assert any(
        g.message.startswith("Known vulnerabilities were not checked")
        for g in unchecked.justification
    )
