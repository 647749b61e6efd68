"""Import of ARC's own client job list.

``data/arc-jobs.dat`` was written by ARC 7.0's ``arcsub`` submitting an xRSL and an ADL job to the stack's
CE (``data/make_arc_jobs_dat.sh``; the jobs were then killed and cleaned). ``data/make_arc_jobs_dat_bindings.py``
writes the same format with ARC's own ``JobInformationStorageSQLite`` without a CE.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path

import pytest

from arc_intercede import cli
from arc_intercede.cli.arcjobs import REST_INTERFACE, arc_state_to_status, import_arc_jobs
from arc_intercede.cli.jobstore import JobRecord, JobStore, JobStoreError
from tests.unit.conftest import sqlite_file

FIXTURE = Path(__file__).parent / "data" / "arc-jobs.dat"
ENDPOINT = "https://localhost:8443/arex"


@pytest.fixture
def arc_file(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.dat"
    shutil.copyfile(FIXTURE, path)
    return path


def _raw_rows(path: Path) -> list[dict[str, str]]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM jobs ORDER BY rowid")]
    db.close()
    return rows


def test_the_fixture_is_arcsubs_schema() -> None:
    """The columns ARC 7's JobInformationStorageSQLite writes, as read from the real file."""
    db = sqlite3.connect(FIXTURE)
    columns = [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
    indexes = [row[1] for row in db.execute("PRAGMA index_list(jobs)")]
    db.close()
    assert columns[:16] == ["id", "idfromendpoint", "name", "statusinterface", "statusurl",
                            "managementinterfacename", "managementurl", "serviceinformationinterfacename",
                            "serviceinformationurl", "serviceinformationhost", "sessiondir", "stageindir",
                            "stageoutdir", "descriptiondocument", "localsubmissiontime", "delegationid"]
    assert columns[-1] == "activityoldid" and len(columns) == 52
    assert "serviceinformationhost" in indexes


def test_real_arcsub_job_list_parses() -> None:
    rows = _raw_rows(FIXTURE)
    records = import_arc_jobs(FIXTURE)
    assert len(records) == len(rows) == 2
    assert [r.job_id for r in records] == [row["idfromendpoint"] for row in rows]
    for record, row in zip(records, rows, strict=True):
        assert row["id"] == f"{ENDPOINT}/rest/1.0/jobs/{record.job_id}"
        assert record.endpoint == ENDPOINT and record.ce == "localhost:8443"
        assert record.submitted.endswith("+00:00") and record.submitted.startswith("20")
        assert record.description is not None and record.description_format in ("adl", "xrsl")
    assert [r.tag for r in records] == ["it's #1 100%", "adl-job"]  # ARC wrote them %-escaped
    assert "%27" in rows[0]["name"] and "%25" in rows[0]["name"]
    assert "%27" in rows[0]["descriptiondocument"] and "%25" in rows[0]["descriptiondocument"]
    assert records[0].description is not None and "%27" not in records[0].description
    assert "it's #1 100%" in records[0].description  # the prepared xRSL arcsub sent, with its client xRSL
    assert [r.description_format for r in records] == ["xrsl", "xrsl"]  # arcsub sends xRSL, the ADL one too


def test_import_into_the_store_and_again(arc_file: Path, tmp_path: Path) -> None:
    store = JobStore(tmp_path / "state" / "jobs.db")
    store.add([JobRecord.now("mine", ce="local", endpoint=ENDPOINT)])
    first = store.import_arc(arc_file, ce_names={ENDPOINT + "/": "local"})
    assert len(first.added) == 2 and first.known == []
    assert [r.job_id for r in store.jobs(endpoint=ENDPOINT)] == ["mine", *(r.job_id for r in first.added)]
    job = store.get(first.added[0].job_id)
    assert job is not None and job.ce == "local" and job.description == first.added[0].description
    again = store.import_arc(arc_file)
    assert again.added == [] and again.known == [r.job_id for r in first.added]
    assert arc_file.read_bytes() == FIXTURE.read_bytes()  # only read


def test_states_and_other_interfaces(arc_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = sqlite3.connect(arc_file)
    first, second = (r[0] for r in db.execute("SELECT id FROM jobs ORDER BY rowid"))
    db.execute("UPDATE jobs SET state = 'Failed' WHERE id = ?", (first,))
    db.execute("UPDATE jobs SET managementinterfacename = 'org.ogf.glue.emies.activitymanagement' WHERE id = ?",
               (second,))
    db.commit()
    db.close()
    with caplog.at_level(logging.WARNING, logger="arc_intercede.cli.arcjobs"):
        records = import_arc_jobs(arc_file)
    assert [(r.state, r.arc_state) for r in records] == [("failed", "Failed")]
    assert "skipping 1 job(s) of interface org.ogf.glue.emies.activitymanagement" in caplog.text
    assert arc_state_to_status("Finishing") == "running" and arc_state_to_status("Undefined") is None
    assert REST_INTERFACE == "org.nordugrid.arcrest"


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "not ARC's SQLite job list"),
    (b'<?xml version="1.0"?>\n<ArcJobs><Job/></ArcJobs>\n', "ARC's XML job list"),
    (b"\x00" * 12 + b"\x62\x31\x05\x00" + b"\x00" * 60, "Berkeley DB"),
    (b"garbage\n", "not ARC's SQLite job list"),
    (b"SQLite format 3\x00" + b"\xff" * 2000, "damaged or unreadable"),
])
def test_bad_arc_file_is_a_one_line_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "jobs.dat"
    path.write_bytes(content)
    store = JobStore(tmp_path / "mine.db")
    store.add([JobRecord.now("mine", ce="local", endpoint=ENDPOINT)])
    with pytest.raises(JobStoreError) as info:
        store.import_arc(path)
    assert reason in str(info.value) and "\n" not in str(info.value) and str(info.value).startswith(f"{path}: ")
    assert path.read_bytes() == content
    assert [r.job_id for r in store.records()] == ["mine"]  # nothing lost


def test_other_sqlite_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JobStoreError, match="lacks column 'idfromendpoint'"):
        import_arc_jobs(sqlite_file(tmp_path / "other.dat", "CREATE TABLE jobs(id, name)"))
    with pytest.raises(JobStoreError, match="no table 'jobs'"):
        import_arc_jobs(sqlite_file(tmp_path / "empty.dat", "CREATE TABLE x(y)"))


def test_cli_import_arc(arc_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ARC_INTERCEDE_STATE", str(tmp_path / "state"))
    config = tmp_path / "config.yaml"
    config.write_text(f"ces:\n  here:\n    endpoint: {ENDPOINT}/\n    ca_dir: /x\n    token: t\n")
    assert cli.main(["import-arc", str(arc_file), "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "2 job(s) added" in out and "here" in out
    assert {r.ce for r in JobStore(tmp_path / "state" / "jobs.db").records()} == {"here"}
    assert cli.main(["import-arc", "--json", str(arc_file)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["added"] == [] and len(data["known"]) == 2
    bad = tmp_path / "bad.dat"
    bad.write_text("garbage\n")
    assert cli.main(["import-arc", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"arc-intercede: error: import-arc: {bad}: not ARC's SQLite job list"]
    assert cli.main(["import-arc", str(tmp_path / "missing.dat")]) == 2
    assert "no such file" in capsys.readouterr().err
