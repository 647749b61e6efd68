"""ARC's own client as a bulk-status benchmark column: one ``arcstat`` (ARC 7) over the same ids.

:func:`arcstat_timer` prepares, once and outside the timing, a private directory in the stack's chroot
(``<chroot>/tmp/arcstat-bench.*``) holding:

* ``jobs.dat``: an ARC 7 SQLite job list, one row per id, written the way ``arcsub`` writes a REST job
  (``id = <endpoint>/rest/1.0/jobs/<id>``, interface ``org.nordugrid.arcrest``, service URL = the endpoint);
  20 000 rows take well under a second;
* ``client.conf``: ``cacertificatesdirectory`` (a copy of the config's ``ca_dir``), ``joblisttype = SQLITE``;
* the credential: the bearer token (``BEARER_TOKEN_FILE``, ``--token-authentication``) if the config has one,
  else the proxy (``X509_USER_PROXY``, ``--x509-authentication``).

The returned callable runs, per call (that is what is timed, process start and TLS handshake included)::

    chroot-stack exec env BEARER_TOKEN_FILE=DIR/token arcstat --token-authentication -z DIR/client.conf \\
        -j DIR/jobs.dat -a -t TIMEOUT -d WARNING

ARC 7's REST job controller sends all jobs of one CE in a single ``POST /rest/1.0/jobs?action=info`` (XML, full
GLUE2 info document per job: heavier than ``action=status``). A-REX answers 404 per made-up id, which arcstat logs
as ``WARNING: Failed to process job: <id> - 404 ...``. The callable raises unless arcstat exited 0, reported
``Status of N jobs was queried, M jobs returned information`` with N = all ids, and M plus the 404 warnings
account for every id (so the CE really answered each id); ``real`` ids, if given, must each show a state.
(arcstat exits 0 even when the CE is unreachable, hence these checks.) Measured on the arc-slurm stack: at
20 000 ids the HTTP round trip is ~0.2 s of arcstat's ~12 s; the rest is client CPU matching the response items
to its job list (a linear search per item: quadratic in the number of ids).

Used by ``tests/benchmarks/bench_status.py`` (its ``arcstat`` column).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from arc_intercede import ARCConfig

__all__ = ["ArcstatError", "arcstat_timer"]

_COLUMNS = (
    "id, idfromendpoint, name, statusinterface, statusurl, managementinterfacename, managementurl, "
    "serviceinformationinterfacename, serviceinformationurl, serviceinformationhost, sessiondir, stageindir, "
    "stageoutdir, descriptiondocument, localsubmissiontime, delegationid, type, localidfrommanager, description, "
    "state, restartstate, exitcode, computingmanagerexitcode, error, waitingposition, userdomain, owner, localowner, "
    "requestedtotalwallltime, requestedtotalcputime, requestedslots, requestedapplicationenvironment, stdin, stdout, "
    "stderr, logdir, executionnode, queue, usedtotalwallltime, usedtotalcputime, usedmainmemory, submissiontime, "
    "computingmanagersubmissiontime, starttime, computingmanagerendtime, endtime, workingareaerasetime, "
    "proxyexpirationtime, submissionhost, submissionclienttime, othermessages, activityoldid"
).split(", ")
"""ARC 7.0 ``JobInformationStorageSQLite`` schema (JOBS_COLUMNS; ``wallltime`` is ARC's spelling)."""

_DEFAULTS = {  # what arcsub writes for a fresh REST job besides the ids and URLs
    "state": "Undefined", "restartstate": "Undefined", "exitcode": "-1", "waitingposition": "-1",
    "requestedtotalwallltime": "PT", "requestedtotalcputime": "PT", "requestedslots": "-1", "logdir": "/diagnose",
    "usedtotalwallltime": "PT", "usedtotalcputime": "PT", "usedmainmemory": "-1",
}
_INTERFACE = "org.nordugrid.arcrest"
_ID = re.compile(r"[A-Za-z0-9._-]+")
_SUMMARY = re.compile(r"Status of (\d+) jobs was queried, (\d+) jobs returned information")
_NOT_FOUND = re.compile(r"Failed to process job: (\S+) - 404\b")


class ArcstatError(RuntimeError):
    """arcstat failed, timed out, or its output does not show that the CE answered for every id."""


def _stack_paths(state_dir: Path) -> tuple[Path, Path]:
    """The chroot root and the chroot-stack runner of the configuration that is up."""
    current = (state_dir / "current").read_text().strip()
    facts = yaml.safe_load((state_dir / current / "stack.yaml").read_text()) or {}
    root = Path(facts.get("chroot_root") or os.environ.get("ARC_STACK_ROOT", "/var/lib/arc-intercede/chroot"))
    runner = Path(facts.get("runner") or Path(__file__).resolve().parents[2] / "compose/arc-slurm/chroot-stack")
    return root, runner


def _write_joblist(path: Path, endpoint: str, ids: list[str]) -> None:
    row = dict.fromkeys(_COLUMNS, "") | _DEFAULTS
    row |= {"statusinterface": _INTERFACE, "managementinterfacename": _INTERFACE,
            "serviceinformationinterfacename": _INTERFACE, "statusurl": endpoint, "managementurl": endpoint,
            "serviceinformationurl": endpoint, "serviceinformationhost": urlsplit(endpoint).hostname or "",
            "localsubmissiontime": str(int(time.time()))}  # empty: arcstat logs "ERROR: Empty string" per job
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE jobs({', '.join(_COLUMNS)}, UNIQUE(id))")
        db.execute("CREATE INDEX serviceinformationhost ON jobs(serviceinformationhost)")
        db.executemany(
            f"INSERT INTO jobs({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
            ([*(row | {"id": f"{endpoint}/rest/1.0/jobs/{i}", "idfromendpoint": i}).values()] for i in ids),
        )
    db.close()


def arcstat_timer(
    cfg: ARCConfig, ids: list[str], state_dir: Path, *, real: Iterable[str] = (), timeout_s: float = 600.0
) -> Callable[[], None]:
    """Prepare arcstat in the stack's chroot for ``ids``; return a callable that runs one arcstat over all of them.

    Args:
        cfg: The client configuration of the stack that is up (endpoint, ``ca_dir``, token or proxy).
        ids: Bare A-REX job ids (duplicates are dropped, as ARC's job list would).
        state_dir: The stack's client state dir (``current``, ``<config>/stack.yaml`` locate the chroot).
        real: Ids of existing jobs: each must show a state in arcstat's output.
        timeout_s: Cap for one arcstat run (also its own ``-t`` connection timeout).

    The callable raises :class:`ArcstatError` (timeout included). Its ``close()`` removes the directory
    (also done at interpreter exit).
    """
    if cfg.ca_dir is None:
        raise ArcstatError("arcstat needs a CA directory (ca_dir); a ca_file alone is not supported here")
    unique = list(dict.fromkeys(ids))
    bad = [i for i in unique if not _ID.fullmatch(i)]
    if bad:
        raise ArcstatError(f"not bare job ids: {bad[:3]}")
    real_set = set(real)
    root, runner = _stack_paths(state_dir)
    host_dir = Path(tempfile.mkdtemp(prefix="arcstat-bench.", dir=root / "tmp"))
    atexit.register(shutil.rmtree, host_dir, ignore_errors=True)
    in_dir = "/" + str(host_dir.relative_to(root))
    endpoint = cfg.endpoint.rstrip("/")

    shutil.copytree(cfg.ca_dir, host_dir / "ca")
    (host_dir / "client.conf").write_text(
        f"[common]\ncacertificatesdirectory = {in_dir}/ca\njoblisttype = SQLITE\n", encoding="utf-8"
    )
    if cfg.token is not None or cfg.token_file is not None:  # token auth (also with a proxy: token wins)
        token = cfg.token if cfg.token is not None else Path(cfg.token_file).read_text().strip()  # type: ignore[arg-type]
        cred_env, auth = f"BEARER_TOKEN_FILE={in_dir}/token", "--token-authentication"
        dest = host_dir / "token"
        dest.touch(mode=0o600)
        dest.write_text(token + "\n")
    else:  # proxy: ARC insists on a private file owned by the caller (root in the chroot)
        cred_env, auth = f"X509_USER_PROXY={in_dir}/proxy.pem", "--x509-authentication"
        shutil.copyfile(cfg.proxy, host_dir / "proxy.pem")  # type: ignore[arg-type]
        os.chmod(host_dir / "proxy.pem", 0o600)
    _write_joblist(host_dir / "jobs.dat", endpoint, unique)

    cmd = [str(runner), "exec", "env", cred_env, "arcstat", auth, "-z", f"{in_dir}/client.conf",
           "-j", f"{in_dir}/jobs.dat", "-a", "-t", str(int(timeout_s)), "-d", "WARNING"]

    def run() -> None:
        # own process group: on timeout kill arcstat too, not only the chroot-stack shell
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise ArcstatError(f"arcstat over {len(unique)} ids exceeded {timeout_s:.0f} s") from exc
        summary = _SUMMARY.search(out)
        if proc.returncode != 0 or summary is None:
            raise ArcstatError(f"arcstat exit {proc.returncode}: {(err or out)[-2000:]}")
        queried, answered = int(summary[1]), int(summary[2])
        not_found = {m[1] for m in _NOT_FOUND.finditer(err)}
        if queried != len(unique) or answered + len(not_found) != len(unique):
            raise ArcstatError(f"arcstat: {queried}/{len(unique)} queried, {answered} answered, "
                               f"{len(not_found)} not found: {err[-2000:]}")
        shown = set(re.findall(r"^Job: \S+/jobs/(\S+)\n State: (?!Undefined)", out, flags=re.MULTILINE))
        missing = real_set - shown
        if missing:
            raise ArcstatError(f"arcstat showed no state for real jobs {sorted(missing)}")

    run.close = lambda: shutil.rmtree(host_dir, ignore_errors=True)  # type: ignore[attr-defined]
    run.dir = host_dir  # type: ignore[attr-defined]
    return run
