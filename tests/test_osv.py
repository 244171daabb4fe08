"""Known vulnerabilities from OSV (`bot/advisers/osv.py`): the API client against a fake OSV
server that serves real advisories, and an export read from a zip."""

from __future__ import annotations

import json
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from fakes.osv import FakeOsv, record

from bot.advisers.osv import OsvApi, OsvExport, VulnerabilitiesUnavailable, parse_advisory


@pytest.fixture
def osv() -> Iterator[FakeOsv]:
    fake = FakeOsv().start()
    fake.publish(record("PYSEC-2023-62"), record("PYSEC-2023-212"), record("PYSEC-2023-74"))
    yield fake
    fake.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def test_an_advisory_with_two_fixed_branches_affects_each_branch_below_its_fix() -> None:
    [flask] = parse_advisory(record("PYSEC-2023-62"))  # CVE-2023-30861: < 2.2.5, 2.3.0-2.3.1
    assert flask.package == "flask" and flask.title == "PYSEC-2023-62 (CVE-2023-30861)"
    assert [v for v in ("2.2.4", "2.2.5", "2.3.0", "2.3.1", "2.3.2") if flask.affects(v)] == [
        "2.2.4",
        "2.3.0",
        "2.3.1",
    ]
    assert flask.fixed_after("2.3.1") == "2.3.2" and flask.fixed_after("2.2.4") == "2.2.5"
    assert flask.link == "https://osv.dev/vulnerability/PYSEC-2023-62"
    [urllib3] = parse_advisory(record("PYSEC-2023-212"))  # its ranges out of version order
    assert urllib3.affects("2.0.6") and not urllib3.affects("2.0.7")
    assert urllib3.affects("1.26.17") and not urllib3.affects("1.26.18")


async def test_one_batch_asks_for_every_package_and_each_advisory_is_read_once(
    osv: FakeOsv, session: aiohttp.ClientSession
) -> None:
    api = OsvApi(session, osv.url)

    found = await api.advisories(["Flask", "urllib3", "six"])
    again = await api.advisories(["flask"])

    assert [a.id for a in found["flask"]] == ["PYSEC-2023-62"]
    assert [a.id for a in found["urllib3"]] == ["PYSEC-2023-212"]
    assert found["six"] == ()
    assert again["flask"] == found["flask"]
    assert len(osv.queries) == 1 and len(osv.queries[0]) == 3  # the second from the cache
    assert sorted(osv.reads) == ["PYSEC-2023-212", "PYSEC-2023-62"]

    osv.publish(record("PYSEC-2023-74"))  # requests': flask's answer stands, asked anew
    await api.advisories(["flask"], fresh=True)
    assert len(osv.queries) == 2 and len(osv.reads) == 2  # the same advisory is not read again


async def test_an_unreachable_osv_says_where(session: aiohttp.ClientSession) -> None:
    with FakeOsv() as osv:
        osv.unavailable = True
        with pytest.raises(VulnerabilitiesUnavailable, match="answered HTTP 503"):
            await OsvApi(session, osv.url).advisories(["flask"])
    with pytest.raises(VulnerabilitiesUnavailable, match="could not be reached"):
        await OsvApi(session, osv.url).advisories(["flask"])  # stopped


async def test_an_export_is_read_from_its_zip_and_again_when_it_changes(tmp_path: Path) -> None:
    export = tmp_path / "all.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("PYSEC-2023-74.json", json.dumps(record("PYSEC-2023-74")))
    source = OsvExport(export)
    assert [a.id for a in (await source.advisories(["requests"]))["requests"]] == ["PYSEC-2023-74"]

    with zipfile.ZipFile(export, "a") as archive:
        archive.writestr("PYSEC-2023-227.json", json.dumps(record("PYSEC-2023-227")))
    assert [a.id for a in (await source.advisories(["Pillow"]))["pillow"]] == ["PYSEC-2023-227"]

    export.write_bytes(b"not a zip")
    with pytest.raises(VulnerabilitiesUnavailable, match="not a readable zip"):
        await source.advisories(["requests"])
