"""VOMS on the real stack (configuration ``voms``): our VOMS proxies against vomsd 2.1, A-REX and the C++/ARC tools.

* ``arc-intercede proxy --voms testvo:/testvo/analysis`` is accepted and mapped to griduser (the group's
  user); with ``/Role=production`` to produser; a plain proxy and proxies with an expired or untrusted AC are
  refused as :class:`CredentialError`; both AC protocols (REST and legacy) are exercised.
* Differential: our proxies pass C++ ``voms-proxy-info --all`` and ARC's ``arcproxy -I``; ``proxy --info``
  reads proxies made by ``voms-proxy-init`` with the same FQANs.
* A delegation made from a short-lived VOMS proxy is renewed on the backend's own timer (no submission) from a
  fresher VOMS proxy, and never from a poorer or shorter-lived one; a job's delegation is renewed on request
  (``renew_jobs``, like arcrenew) under the same rule.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from arc_intercede import ARCBackend, JobStatus
from arc_intercede.cli import main
from arc_intercede.credentials.proxy import make_proxy
from arc_intercede.credentials.voms.ac import ACSEQ_OID, acseq_extension_value, proxy_acs
from arc_intercede.credentials.voms.info import describe_proxy
from arc_intercede.errors import CredentialError
from tests import voms_fake as vf
from tests.contract.helpers import backend_config, shell_job, wait_terminal

GROUP = "testvo:/testvo/analysis"
ROLE = "testvo:/testvo/analysis/Role=production"


@pytest.fixture(scope="module")
def voms(stack_info: dict[str, Any]) -> dict[str, Any]:
    if stack_info["config"] != "voms":
        pytest.skip("voms configuration only")
    return stack_info


@pytest.fixture
def voms_env(voms: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("VOMS_USERCONF", voms["vomses"])
    monkeypatch.setenv("X509_VOMS_DIR", voms["vomsdir"])
    monkeypatch.setenv("X509_CERT_DIR", voms["ca_dir"])
    return voms


def make(voms: dict[str, Any], out: Path, spec: str, protocol: str, valid: str = "1h") -> Path:
    """``arc-intercede proxy --voms SPEC`` (in-process), checked to succeed."""
    rc = main(["proxy", "--cert", voms["usercert"], "--key", voms["userkey"], "--out", str(out),
               "--voms", spec, "--voms-protocol", protocol, "--valid", valid])
    assert rc == 0, f"proxy --voms {spec} ({protocol}) exit {rc}"
    return out


def _short(fqan: str) -> str:
    return fqan.replace("/Role=NULL", "").replace("/Capability=NULL", "")


def in_chroot(voms: dict[str, Any], *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([voms["runner"], "exec", *cmd], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.fixture
def chroot_file(voms: dict[str, Any]) -> Iterator[Callable[[Path], str]]:
    """copy(path) -> the path of a copy inside the chroot (removed afterwards)."""
    made: list[Path] = []

    def copy(path: Path) -> str:
        inside = f"/tmp/voms-test-{uuid.uuid4().hex[:8]}.pem"
        target = Path(voms["chroot_root"] + inside)
        shutil.copyfile(path, target)
        target.chmod(0o600)
        made.append(target)
        return inside

    yield copy
    for path in made:
        path.unlink(missing_ok=True)


def run_job(cfg_path: Path, proxy: Path, tmp: Path) -> str:
    """Submit ``id -un`` with ``proxy``; return what the job printed (the local account A-REX mapped to)."""
    async def body() -> str:
        async with ARCBackend(backend_config(cfg_path, proxy=proxy)) as ce:
            (job_id,) = (await ce.submit(shell_job("id -un"))).ids.values()
            states = await wait_terminal(ce, [job_id])
            assert states[job_id] is JobStatus.DONE, states
            out = (await ce.fetch_output([job_id], tmp))[job_id]
            text = out.stdout.read_text().strip() if out.stdout is not None else ""
            await ce.purge([job_id])
            return text
    return asyncio.run(body())


def refused(cfg_path: Path, proxy: Path) -> CredentialError:
    async def body() -> None:
        async with ARCBackend(backend_config(cfg_path, proxy=proxy)) as ce:
            await ce.jobs()
    with pytest.raises(CredentialError) as info:
        asyncio.run(body())
    return info.value


# --- A-REX authorises and maps by FQAN ------------------------------------------------------------------------


def test_group_and_role_proxies_are_mapped_by_fqan(voms_env: dict[str, Any], client_config_path: Path,
                                                   tmp_path: Path) -> None:
    group = make(voms_env, tmp_path / "group.pem", GROUP, "rest")
    role = make(voms_env, tmp_path / "role.pem", ROLE, "legacy")
    assert [a.fqans[0] for a in proxy_acs(x509.load_pem_x509_certificates(group.read_bytes()))] == [
        "/testvo/analysis/Role=NULL/Capability=NULL"]
    assert [a.fqans[0] for a in proxy_acs(x509.load_pem_x509_certificates(role.read_bytes()))] == [
        "/testvo/analysis/Role=production/Capability=NULL"]
    (tmp_path / "g").mkdir()
    (tmp_path / "r").mkdir()
    assert run_job(client_config_path, group, tmp_path / "g") == "griduser"
    assert run_job(client_config_path, role, tmp_path / "r") == "produser"


def test_plain_proxy_is_refused(voms_env: dict[str, Any], client_config_path: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain.pem"
    make_proxy(Path(voms_env["usercert"]), Path(voms_env["userkey"]), plain, valid=dt.timedelta(hours=1))
    refused(client_config_path, plain)


def _forged_proxy(voms: dict[str, Any], out: Path, ac: bytes) -> Path:
    ext = x509.UnrecognizedExtension(x509.ObjectIdentifier(ACSEQ_OID), acseq_extension_value([ac]))
    make_proxy(Path(voms["usercert"]), Path(voms["userkey"]), out, valid=dt.timedelta(hours=1), extensions=[ext])
    return out


def _aa(voms: dict[str, Any]) -> tuple[x509.Certificate, Any]:
    from cryptography.hazmat.primitives import serialization

    root = Path(voms["chroot_root"]) / "etc/grid-security/voms"
    key = serialization.load_pem_private_key((root / "hostkey.pem").read_bytes(), None)
    return x509.load_pem_x509_certificate((root / "hostcert.pem").read_bytes()), key


def test_expired_and_untrusted_acs_are_refused(voms_env: dict[str, Any], client_config_path: Path,
                                              tmp_path: Path) -> None:
    user = x509.load_pem_x509_certificate(Path(voms_env["usercert"]).read_bytes())
    fqans = ["/testvo/analysis/Role=NULL/Capability=NULL", "/testvo/Role=NULL/Capability=NULL"]
    aa_cert, aa_key = _aa(voms_env)
    now = dt.datetime.now(dt.UTC)
    # control: the same forgery, valid now, signed by the real AA, is accepted
    good = _forged_proxy(voms_env, tmp_path / "good.pem",
                         vf.write_ac(holder=user, fqans=fqans, aa_cert=aa_cert, aa_key=aa_key))
    asyncio.run(_jobs(client_config_path, good))
    # expired (beyond ARC's 5 minutes of tolerance), real AA
    expired = _forged_proxy(voms_env, tmp_path / "expired.pem", vf.write_ac(
        holder=user, fqans=fqans, aa_cert=aa_cert, aa_key=aa_key, not_before=now - dt.timedelta(hours=2),
        not_after=now - dt.timedelta(hours=1)))
    refused(client_config_path, expired)
    # signed by an AA that A-REX does not trust (not in the vomsdir LSC, not under a trusted CA)
    other = vf.make_voms_pki(tmp_path / "other", tag="Rogue")
    untrusted = _forged_proxy(voms_env, tmp_path / "untrusted.pem",
                              vf.write_ac(holder=user, fqans=fqans, aa_cert=other.aa_cert, aa_key=other.aa_key))
    refused(client_config_path, untrusted)


async def _jobs(cfg_path: Path, proxy: Path) -> None:
    async with ARCBackend(backend_config(cfg_path, proxy=proxy)) as ce:
        assert isinstance(await ce.jobs(), list)


def test_server_answers_are_clear_errors(voms_env: dict[str, Any], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for protocol in ("rest", "legacy"):
        rc = main(["proxy", "--cert", voms_env["usercert"], "--key", voms_env["userkey"], "--out",
                   str(tmp_path / "x.pem"), "--voms", "testvo:/testvo/nogroup", "--voms-protocol", protocol])
        err = capsys.readouterr().err.strip()
        assert rc == 1 and "no such group or role" in err and len(err.splitlines()) == 1, err
        assert not (tmp_path / "x.pem").exists()
    rc = main(["proxy", "--cert", voms_env["usercert"], "--key", voms_env["userkey"], "--out",
               str(tmp_path / "x.pem"), "--voms", "testvo:/testvo/analysis/Role=nosuchrole"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "no such group or role" in err, err
    # a user of the same CA whom the VO does not know
    inside = f"/tmp/voms-outsider-{uuid.uuid4().hex[:8]}"
    proc = in_chroot(voms_env, "sh", "-c", f"mkdir -p {inside} && cd {inside} && "
                     "ca=$(ls /etc/grid-security/certificates/*-key.pem | head -1) && "
                     "openssl req -newkey rsa:2048 -nodes -keyout key.pem -out req.csr "
                     "-subj /DC=org/DC=nordugrid/DC=ARC/O=TestCA/CN=voms-outsider 2>/dev/null && "
                     "openssl x509 -req -in req.csr -CA /etc/grid-security/testCA.pem -CAkey $ca "
                     "-set_serial 0x$(openssl rand -hex 8) -days 1 -out cert.pem 2>&1")
    root = Path(voms_env["chroot_root"] + inside)
    try:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        cert, key = root / "cert.pem", root / "key.pem"
        key.chmod(0o600)
        for protocol in ("rest", "legacy"):
            rc = main(["proxy", "--cert", str(cert), "--key", str(key), "--out", str(tmp_path / "x.pem"),
                       "--voms", "testvo", "--voms-protocol", protocol])
            err = capsys.readouterr().err.strip()
            assert rc == 1 and "not a member of VO testvo" in err and len(err.splitlines()) == 1, err
    finally:
        shutil.rmtree(root, ignore_errors=True)
    # a vomses entry whose DN is not the server's: the server is not trusted
    wrong = tmp_path / "vomses"
    wrong.write_text('"testvo" "localhost" "15000" "/CN=not the server" "testvo"\n')
    monkeypatch.setenv("VOMS_USERCONF", str(wrong))
    rc = main(["proxy", "--cert", voms_env["usercert"], "--key", voms_env["userkey"], "--out",
               str(tmp_path / "x.pem"), "--voms", "testvo"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "is not trusted" in err and len(err.splitlines()) == 1, err


# --- differential checks against the C++ and ARC tools ------------------------------------------------------------


@pytest.mark.parametrize(("spec", "protocol"), [(GROUP, "rest"), (ROLE, "legacy")])
def test_our_proxies_pass_voms_proxy_info_and_arcproxy(voms_env: dict[str, Any], tmp_path: Path, spec: str,
                                                       protocol: str, chroot_file: Callable[[Path], str]) -> None:
    ours = make(voms_env, tmp_path / "ours.pem", spec, protocol)
    fqans = list(proxy_acs(x509.load_pem_x509_certificates(ours.read_bytes()))[0].fqans)
    inside = chroot_file(ours)
    proc = in_chroot(voms_env, "voms-proxy-info", "--all", "--file", inside)
    assert proc.returncode == 0 and not proc.stderr.strip(), (proc.returncode, proc.stderr)
    assert re.findall(r"^attribute : (\S+)", proc.stdout, re.M) == fqans, proc.stdout
    proc = in_chroot(voms_env, "arcproxy", "-I", "-P", inside)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    said = (proc.stdout + proc.stderr).lower()
    assert not any(w in said for w in ("fail", "ignored", "unable", "error")), proc.stdout + proc.stderr
    shown = re.findall(r"^\s*attribute\s*:\s*(\S+)", proc.stdout, re.M | re.I)
    assert [_short(f) for f in fqans] == [_short(f) for f in shown], proc.stdout


def test_proxy_info_reads_voms_proxy_init_proxies(voms_env: dict[str, Any], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    inside = f"/tmp/vpi-{uuid.uuid4().hex[:8]}.pem"
    proc = in_chroot(voms_env, "voms-proxy-init", "-cert", "/srv/arc-stack/user/usercert.pem", "-key",
                     "/srv/arc-stack/user/userkey.pem", "-voms", ROLE, "-valid", "1:00", "-out", inside)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    theirs = tmp_path / "vpi.pem"
    try:
        shutil.copyfile(voms_env["chroot_root"] + inside, theirs)
        listed = in_chroot(voms_env, "voms-proxy-info", "--all", "--file", inside)
    finally:
        Path(voms_env["chroot_root"] + inside).unlink(missing_ok=True)
    theirs.chmod(0o600)
    expected = re.findall(r"^attribute : (\S+)", listed.stdout, re.M)
    assert expected and expected[0] == "/testvo/analysis/Role=production/Capability=NULL", listed.stdout
    assert main(["proxy", "--info", "--json", str(theirs)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [vo["fqans"] for vo in info["vo"]] == [expected]
    assert info["vo"][0]["verified"] and info["vo"][0]["uri"] == "localhost:15000"
    assert info["identity"] == voms_env["user_dn"]
    # and the one the stack exported (voms-proxy-init, group only)
    exported = describe_proxy(Path(voms_env["voms_proxy"]))
    assert exported["vo"][0]["fqans"][0] == "/testvo/analysis/Role=NULL/Capability=NULL"


# --- delegation renewal with short-lived VOMS proxies -------------------------------------------------------------


def test_delegation_renewed_on_its_own_timer_never_with_a_poorer_proxy(
        voms_env: dict[str, Any], client_config_path: Path, tmp_path: Path) -> None:
    proxy = tmp_path / "proxy.pem"
    make(voms_env, proxy, ROLE, "rest", valid="4m")

    async def delegated(ce: ARCBackend) -> tuple[dt.datetime, list[tuple[str, ...]]]:
        delegation_id = ce.delegation_id
        assert delegation_id is not None
        pem = await ce._open_pool().call(lambda c: c.get_delegation(delegation_id), "get delegation")
        assert pem is not None
        chain = x509.load_pem_x509_certificates(pem.encode())
        return chain[0].not_valid_after_utc, [a.fqans for a in proxy_acs(chain)]

    async def wait_for(ce: ARCBackend, accept: Callable[[dt.datetime], bool], within: float) -> dt.datetime:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            expiry, _acs = await delegated(ce)
            if accept(expiry) or asyncio.get_running_loop().time() > deadline:
                return expiry
            await asyncio.sleep(1)

    async def body() -> None:
        cfg = backend_config(client_config_path, proxy=proxy, delegation_refresh_s=2.0)
        async with ARCBackend(cfg) as ce:
            (job_id,) = (await ce.submit(shell_job("sleep 300"))).ids.values()
            first, acs = await delegated(ce)
            assert acs and acs[0][0] == "/testvo/analysis/Role=production/Capability=NULL"
            assert first - dt.datetime.now(dt.UTC) < dt.timedelta(minutes=5)
            # a poorer proxy (no role) that lives longer must not replace the delegation
            make(voms_env, proxy, GROUP, "rest", valid="2h")
            await asyncio.sleep(8)
            expiry, acs = await delegated(ce)
            assert expiry == first and acs[0][0].startswith("/testvo/analysis/Role=production"), acs
            # a plain proxy neither (it is also the TLS credential, which A-REX refuses: look after the next step)
            make_proxy(Path(voms_env["usercert"]), Path(voms_env["userkey"]), proxy, valid=dt.timedelta(hours=3))
            await asyncio.sleep(8)
            # nor one with the same attributes that ends sooner than the delegated one
            make(voms_env, proxy, ROLE, "rest", valid="2m")
            await asyncio.sleep(8)
            assert (await delegated(ce))[0] == first
            # a fresher proxy with the same attributes is pushed by the timer, without any submission
            make(voms_env, proxy, ROLE, "legacy", valid="1h")
            renewed = await wait_for(ce, lambda e: e > first, 60)
            assert renewed - first > dt.timedelta(minutes=30), (first, renewed)
            assert (await delegated(ce))[1][0][0] == "/testvo/analysis/Role=production/Capability=NULL"
            # per-job renewal (arcrenew): from a fresher proxy yes, from a poorer one no
            make(voms_env, proxy, ROLE, "rest", valid="2h")
            outcome = (await ce.renew_jobs([job_id, "nosuchjob00000000000000000000"]))
            assert outcome[job_id].ok, outcome
            assert not outcome["nosuchjob00000000000000000000"].ok
            assert (await delegated(ce))[0] - renewed > dt.timedelta(minutes=30)
            make(voms_env, proxy, GROUP, "rest", valid="3h")
            outcome = await ce.renew_jobs([job_id])
            assert not outcome[job_id].ok and "attribute-poorer" in outcome[job_id].reason, outcome
            await ce.kill([job_id])
            await ce.purge([job_id])

    asyncio.run(body())
