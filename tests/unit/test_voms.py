"""VOMS: DER, AC parsing and checks, both request protocols against a loopback server, every server answer
mapped to one clear error, VOMS proxies, ``proxy --voms`` / ``proxy --info``."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from arc_intercede.cli import main
from arc_intercede.credentials.voms import der
from arc_intercede.credentials.voms.ac import parse_ac, proxy_acs, verify_ac
from arc_intercede.credentials.voms.builder import make_voms_proxy, parse_voms_spec
from arc_intercede.credentials.voms.errors import VomsError
from arc_intercede.credentials.voms.info import describe_proxy
from arc_intercede.credentials.voms.protocol import (
    decode_ac_text,
    legacy_commands,
    legacy_request,
    parse_legacy_answer,
    parse_rest_answer,
    rest_request,
)
from arc_intercede.credentials.voms.vomses import VomsServer, find_servers, load_vomses, parse_vomses_line
from arc_intercede.errors import CredentialError
from tests import voms_fake as vf

SERVER = VomsServer(alias="testvo", host="localhost", port=15000, dn="/C=XX/O=VOMS Test/CN=localhost", vo="testvo")
FQANS = ["/testvo/analysis/Role=production/Capability=NULL", "/testvo/analysis/Role=NULL/Capability=NULL",
         "/testvo/Role=NULL/Capability=NULL"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> vf.VomsPKI:
    return vf.make_voms_pki(tmp_path_factory.mktemp("voms"))


def _ac(pki: vf.VomsPKI, **kw: object) -> bytes:
    return vf.write_ac(holder=pki.user_cert, fqans=kw.pop("fqans", FQANS), aa_cert=pki.aa_cert,  # type: ignore[arg-type]
                       aa_key=pki.aa_key, **kw)  # type: ignore[arg-type]


# --- DER, AC parsing and verification ----------------------------------------------------------------------


def test_der_round_trip_and_errors() -> None:
    value = der.encode(der.SEQUENCE, der.encode_int(300), der.encode_oid("1.3.6.1.4.1.8005.100.100.5"))
    parts = der.parse(value).children()
    assert parts[0].integer() == 300 and der.parse_oid(parts[1]) == "1.3.6.1.4.1.8005.100.100.5"
    with pytest.raises(der.DERError, match="trailing"):
        der.parse(value + b"\x00")
    with pytest.raises(der.DERError, match="past the end"):
        der.parse(value[:-1])


def test_parse_ac_reads_what_vomsd_writes(pki: vf.VomsPKI) -> None:
    ac = parse_ac(_ac(pki))
    assert ac.vo == "testvo" and ac.uri == "localhost:15000" and ac.host == "localhost"
    assert ac.fqans == tuple(FQANS)
    assert ac.issuer == "/C=XX/O=VOMS Test/CN=localhost"
    assert ac.holder_issuer == "/C=XX/O=VOMS Test/OU=Users/CN=Test User"
    assert ac.holder_serial == pki.user_cert.serial_number
    assert ac.aa_certs[0] == pki.aa_cert
    assert verify_ac(ac, holder=pki.user_cert, vomsdir=pki.vomsdir, ca_dir=pki.ca_dir) == []


def test_verify_ac_finds_each_problem(pki: vf.VomsPKI, tmp_path: Path) -> None:
    good = _ac(pki)
    flipped = bytearray(good)
    flipped[-5] ^= 0xFF
    assert any("signature" in p for p in verify_ac(parse_ac(bytes(flipped)), vomsdir=pki.vomsdir, ca_dir=pki.ca_dir))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    expired = parse_ac(_ac(pki, not_before=past, not_after=past + dt.timedelta(hours=1)))
    assert any("expired" in p for p in verify_ac(expired, vomsdir=pki.vomsdir, ca_dir=pki.ca_dir))
    assert any("does not exist" in p for p in verify_ac(parse_ac(good), vomsdir=tmp_path, ca_dir=pki.ca_dir))
    other = vf.make_voms_pki(tmp_path / "other", tag="Other")
    forged = parse_ac(vf.write_ac(holder=pki.user_cert, fqans=FQANS, aa_cert=other.aa_cert, aa_key=other.aa_key))
    problems = verify_ac(forged, vomsdir=pki.vomsdir, ca_dir=pki.ca_dir)
    assert any("does not match" in p for p in problems) and any("not a trusted CA" in p for p in problems)
    assert any("holder" in p for p in verify_ac(parse_ac(good), holder=other.user_cert, vomsdir=pki.vomsdir,
                                                 ca_dir=pki.ca_dir))
    crit = parse_ac(_ac(pki, critical_extension="1.2.3.4"))
    assert any("unknown critical" in p for p in verify_ac(crit, vomsdir=pki.vomsdir, ca_dir=pki.ca_dir))


def test_parse_ac_refuses_garbage() -> None:
    with pytest.raises(der.DERError):
        parse_ac(b"A")
    with pytest.raises(der.DERError):
        parse_ac(der.encode(der.SEQUENCE, der.encode_int(1)))


# --- protocol encoding and answers ---------------------------------------------------------------------------


def test_legacy_commands_and_request() -> None:
    assert legacy_commands(["/testvo", "/testvo/analysis", "/testvo/analysis/Role=production", "/Role=admin",
                            "all", "/testvo/Role=NULL/Capability=NULL"]) == [
        "G/testvo", "G/testvo/analysis", "B/testvo/analysis:production", "Radmin", "A", "G/testvo"]
    text = legacy_request(["/testvo/analysis"], 3600).decode()
    assert "<command>G/testvo/analysis</command><base64>1</base64><version>4</version><lifetime>3600</lifetime>" in text
    with pytest.raises(ValueError, match="positive"):
        legacy_request(["/testvo"], 0)
    with pytest.raises(ValueError, match="capabilities"):
        legacy_commands(["/testvo/Capability=x"])


def test_rest_request_sends_fqans_unencoded_and_a_lifetime() -> None:
    line = rest_request(SERVER, ["/testvo/analysis/Role=production", "/testvo"], 43200).split(b"\r\n")[0]
    assert line == b"GET /generate-ac?fqans=/testvo/analysis/Role=production,/testvo&lifetime=43200 HTTP/1.0"
    with pytest.raises(ValueError, match="positive"):
        rest_request(SERVER, ["/testvo"], -1)


def test_decode_both_base64_alphabets(pki: vf.VomsPKI) -> None:
    ac = _ac(pki)
    assert decode_ac_text(vf.wrapped_base64(ac)) == ac
    assert decode_ac_text(vf.voms_base64(ac)) == ac


@pytest.mark.parametrize(("answer", "kind", "words"), [
    (vf.legacy_error(1001, "testvo: User unknown to this VO."), "not-member", "not a member of VO testvo"),
    (vf.legacy_error(1001, "testvo: Unable to satisfy G/testvo/nogroup request!"), "unknown-attribute",
     "no such group or role"),
    (vf.legacy_error(1004, "testvo: User is suspended."), "suspended", "suspended"),
    (vf.legacy_error(1003, "testvo: database error"), "server-error", "failed"),
    (b"<vomsans><version>3</version><ac>QQ==\n</ac></vomsans>", "bad-answer", "no real AC"),
    (b"<not xml", "bad-answer", "malformed"),
])
def test_legacy_error_answers(answer: bytes, kind: str, words: str) -> None:
    with pytest.raises(VomsError) as info:
        parse_legacy_answer(answer, SERVER)
    assert info.value.kind == kind and words in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, CredentialError)


@pytest.mark.parametrize(("answer", "kind"), [
    (vf.rest_error("403 Forbidden", "NoSuchUser", "testvo: User unknown to this VO."), "not-member"),
    (vf.rest_error("403 Forbidden", "SuspendedUser", "testvo: suspended"), "suspended"),
    (vf.rest_error("400 Bad Request", "BadRequest", "testvo: Unable to satisfy B/testvo/analysis:nosuch request!"),
     "unknown-attribute"),
    (vf.rest_error("500 Internal Server Error", "InternalError", "boom"), "server-error"),
    (vf.rest_error("403 Forbidden", "1001", "testvo : User unknown to this VO."), "not-member"),  # IAM dialect
    (vf.rest("404 Not Found", ""), "bad-answer"),
    (b"garbage", "bad-answer"),
])
def test_rest_error_answers(answer: bytes, kind: str) -> None:
    with pytest.raises(VomsError) as info:
        parse_rest_answer(answer, SERVER)
    assert info.value.kind == kind and "\n" not in str(info.value)


def test_rest_500_with_an_ac_and_a_warning_is_a_success(pki: vf.VomsPKI) -> None:
    ac = _ac(pki)
    data, warnings = parse_rest_answer(vf.rest_ok(ac, warning="shortened to 86400 seconds!"), SERVER)
    assert data == ac and warnings == ["shortened to 86400 seconds!"]
    data, warnings = parse_legacy_answer(vf.legacy_ok(ac, encoding="voms", warning="shortened"), SERVER)
    assert data == ac and warnings == ["shortened"]


def test_vomses_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = parse_vomses_line('"testvo" "localhost" "15000" "/C=XX/O=VOMS Test/CN=localhost" "testvo" "24"')
    assert entry is not None and entry.address == "localhost:15000" and entry.dn.endswith("CN=localhost")
    assert parse_vomses_line("# comment") is None
    with pytest.raises(ValueError):
        parse_vomses_line('"a" "b" "x" "dn" "vo"')
    folder = tmp_path / "vomses"
    folder.mkdir()
    (folder / "a").write_text('"alias" "h1" "1" "/CN=h1" "vo1"\nbroken line\n"vo2" "h2" "2" "/CN=h2" "vo2"\n')
    monkeypatch.setenv("VOMS_USERCONF", str(folder))
    monkeypatch.setenv("HOME", str(tmp_path))
    servers = load_vomses()
    assert [s.vo for s in servers[:2]] == ["vo1", "vo2"]
    assert find_servers("alias", servers)[0].host == "h1"
    with pytest.raises(VomsError, match="no VOMS server known for VO 'nope'"):
        find_servers("nope", servers)


def test_parse_voms_spec() -> None:
    assert parse_voms_spec("testvo") == ("testvo", "/testvo")
    assert parse_voms_spec("testvo:/testvo/analysis") == ("testvo", "/testvo/analysis")
    with pytest.raises(ValueError, match="must start with '/'"):
        parse_voms_spec("testvo:analysis")


# --- against a loopback VOMS server --------------------------------------------------------------------------


def _issuer(pki: vf.VomsPKI, seen: list[str] | None = None, **kw: object) -> Callable[..., bytes]:
    def answer(proto: str, request: str, client: x509.Certificate) -> bytes:
        if seen is not None:
            seen.append(proto)
        lifetime = int(re.search(r"lifetime[=>](\d+)", request).group(1))  # type: ignore[union-attr]
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        ac = vf.write_ac(holder=client, fqans=FQANS, aa_cert=pki.aa_cert, aa_key=pki.aa_key,
                         not_before=now, not_after=now + dt.timedelta(seconds=lifetime))
        return vf.rest_ok(ac) if proto == "rest" else vf.legacy_ok(ac, encoding="voms")
    return answer


def _make(pki: vf.VomsPKI, port: int, out: Path, **kw: object) -> object:
    server = VomsServer(alias="testvo", host="localhost", port=port, dn=vf.oneline(pki.aa_cert.subject), vo="testvo")
    return make_voms_proxy(pki.user_cert_file, pki.user_key_file, out, kw.pop("voms", ["testvo:/testvo/analysis"]),  # type: ignore[arg-type]
                           servers=kw.pop("servers", [server]), vomsdir=pki.vomsdir, ca_dir=pki.ca_dir,  # type: ignore[arg-type]
                           timeout=10, bits=1024, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", ["rest", "legacy"])
def test_voms_proxy_over_each_protocol(pki: vf.VomsPKI, tmp_path: Path, protocol: str) -> None:
    out = tmp_path / "proxy.pem"
    with vf.fake_voms(pki, _issuer(pki)) as server:
        made = _make(pki, server.port, out, protocol=protocol, valid=dt.timedelta(hours=2),
                     ac_lifetime=dt.timedelta(hours=1))
    assert [p for p, _ in server.requests] == [protocol]
    assert made.protocols == (protocol,)  # type: ignore[attr-defined]
    chain = x509.load_pem_x509_certificates(out.read_bytes())
    acs = proxy_acs(chain)
    assert [a.fqans for a in acs] == [tuple(FQANS)]
    # the proxy never outlives its AC
    assert chain[0].not_valid_after_utc <= acs[0].not_after
    assert acs[0].not_after - dt.datetime.now(dt.UTC) < dt.timedelta(hours=1, minutes=1)
    info = describe_proxy(out, vomsdir=pki.vomsdir, ca_dir=pki.ca_dir)
    assert info["identity"] == "/C=XX/O=VOMS Test/OU=Users/CN=Test User"
    assert info["type"] == "RFC 3820 compliant impersonation proxy"
    assert info["vo"][0]["fqans"] == FQANS and info["vo"][0]["verified"] is True


def test_auto_falls_back_to_legacy_after_a_rest_failure(pki: vf.VomsPKI, tmp_path: Path) -> None:
    issue = _issuer(pki)

    def answer(proto: str, request: str, client: x509.Certificate) -> bytes:
        if proto == "rest":
            return vf.rest("404 Not Found", "")
        return issue(proto, request, client)
    with vf.fake_voms(pki, answer) as server:
        made = _make(pki, server.port, tmp_path / "p.pem")
    assert [p for p, _ in server.requests] == ["rest", "legacy"] and made.protocols == ("legacy",)  # type: ignore[attr-defined]


def test_not_a_member_is_not_retried(pki: vf.VomsPKI, tmp_path: Path) -> None:
    answer = lambda p, r, c: vf.rest_error("403 Forbidden", "NoSuchUser", "testvo: User unknown to this VO.")  # noqa: E731
    with vf.fake_voms(pki, answer) as server, pytest.raises(VomsError) as info:
        _make(pki, server.port, tmp_path / "p.pem")
    assert info.value.kind == "not-member" and len(server.requests) == 1
    assert not (tmp_path / "p.pem").exists()


def test_server_down_is_one_clear_line(pki: vf.VomsPKI, tmp_path: Path) -> None:
    with vf.fake_voms(pki, _issuer(pki)) as server:
        port = server.port
    with pytest.raises(VomsError) as info:
        _make(pki, port, tmp_path / "p.pem")
    assert info.value.kind == "unreachable" and f"localhost:{port}" in str(info.value)
    assert "unreachable" in str(info.value) and "\n" not in str(info.value)


def test_untrusted_server(pki: vf.VomsPKI, tmp_path: Path) -> None:
    other = vf.make_voms_pki(tmp_path / "other", tag="Other")
    with vf.fake_voms(pki, _issuer(pki), cert_file=other.aa_cert_file, key_file=other.aa_key_file) as server, \
            pytest.raises(VomsError) as info:
        _make(pki, server.port, tmp_path / "p.pem")
    assert info.value.kind == "untrusted-server" and "not trusted" in str(info.value)


def test_server_dn_must_match_vomses(pki: vf.VomsPKI, tmp_path: Path) -> None:
    with vf.fake_voms(pki, _issuer(pki)) as server, pytest.raises(VomsError) as info:
        _make(pki, server.port, tmp_path / "p.pem", servers=[
            VomsServer(alias="testvo", host="localhost", port=server.port, dn="/CN=someone else", vo="testvo")])
    assert info.value.kind == "untrusted-server" and "vomses says /CN=someone else" in str(info.value)


def test_an_ac_from_an_untrusted_aa_warns_and_an_expired_one_fails(pki: vf.VomsPKI, tmp_path: Path) -> None:
    other = vf.make_voms_pki(tmp_path / "other", tag="Other")

    def forged(proto: str, request: str, client: x509.Certificate) -> bytes:
        return vf.rest_ok(vf.write_ac(holder=client, fqans=FQANS, aa_cert=other.aa_cert, aa_key=other.aa_key))
    with vf.fake_voms(pki, forged) as server:
        made = _make(pki, server.port, tmp_path / "p.pem")
    assert any("does not match" in w for w in made.warnings)  # type: ignore[attr-defined]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)

    def expired(proto: str, request: str, client: x509.Certificate) -> bytes:
        return vf.rest_ok(vf.write_ac(holder=client, fqans=FQANS, aa_cert=pki.aa_cert, aa_key=pki.aa_key,
                                      not_before=past, not_after=past))
    with vf.fake_voms(pki, expired) as server, pytest.raises(VomsError) as info:
        _make(pki, server.port, tmp_path / "q.pem")
    assert info.value.kind == "untrusted-ac" and "expired" in str(info.value)


def test_two_vos_two_acs_in_order(pki: vf.VomsPKI, tmp_path: Path) -> None:
    seen: list[str] = []
    with vf.fake_voms(pki, _issuer(pki, seen)) as server:
        a = VomsServer(alias="vo-a", host="localhost", port=server.port, dn=vf.oneline(pki.aa_cert.subject), vo="vo-a")
        b = VomsServer(alias="vo-b", host="localhost", port=server.port, dn=vf.oneline(pki.aa_cert.subject), vo="vo-b")
        _make(pki, server.port, tmp_path / "p.pem", voms=["vo-b", "vo-a:/vo-a/x", "vo-b:/vo-b/y"], servers=[a, b])
    first, second = (r for _, r in server.requests)
    assert "fqans=/vo-b,/vo-b/y&" in first and "fqans=/vo-a/x&" in second
    assert len(proxy_acs(x509.load_pem_x509_certificates((tmp_path / "p.pem").read_bytes()))) == 2


# --- command line ----------------------------------------------------------------------------------------------


def test_cli_voms_proxy_and_info(pki: vf.VomsPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    with vf.fake_voms(pki, _issuer(pki)) as server:
        (tmp_path / "vomses").write_text(f'"testvo" "localhost" "{server.port}" "{vf.oneline(pki.aa_cert.subject)}" '
                                         '"testvo"\n')
        monkeypatch.setenv("VOMS_USERCONF", str(tmp_path / "vomses"))
        monkeypatch.setenv("X509_VOMS_DIR", str(pki.vomsdir))
        monkeypatch.setenv("X509_CERT_DIR", str(pki.ca_dir))
        out = tmp_path / "x509up"
        rc = main(["proxy", "--cert", str(pki.user_cert_file), "--key", str(pki.user_key_file), "--out", str(out),
                   "--voms", "testvo:/testvo/analysis", "--voms-protocol", "legacy", "--valid", "1h"])
    text = capsys.readouterr().out
    assert rc == 0 and "VO testvo (localhost:15000, legacy)" in text and FQANS[0] in text
    assert main(["proxy", "--info", "--json", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["vo"][0]["fqans"] == FQANS and info["vo"][0]["verified"]
    assert main(["proxy", "--info", str(out)]) == 0
    assert "attribute : /testvo/analysis/Role=production/Capability=NULL" in capsys.readouterr().out
    monkeypatch.setenv("X509_VOMS_DIR", str(tmp_path / "empty"))
    assert main(["proxy", "--info", str(out)]) == 1  # the AC does not verify without the LSC
    assert "verified  : NO" in capsys.readouterr().out


def test_cli_voms_errors_are_one_line(pki: vf.VomsPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VOMS_USERCONF", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    rc = main(["proxy", "--cert", str(pki.user_cert_file), "--key", str(pki.user_key_file),
               "--out", str(tmp_path / "p"), "--voms", "testvo"])
    err = capsys.readouterr().err
    assert rc == 1 and "no VOMS server known for VO 'testvo'" in err and len(err.strip().splitlines()) == 1
    rc = main(["proxy", "--cert", str(pki.user_cert_file), "--key", str(pki.user_key_file),
               "--out", str(tmp_path / "p"), "--voms", "testvo:analysis"])
    assert rc == 2 and "must start with '/'" in capsys.readouterr().err
    rc = main(["proxy", "--info", str(tmp_path / "missing")])
    assert rc == 2 and "not found" in capsys.readouterr().err

