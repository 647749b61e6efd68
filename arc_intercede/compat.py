"""pyarcrest's API on the safe client: :func:`getClient` and the classes it returns.

For scripts written against pyarcrest 0.5 (``ARCRest.getClient(...)``, ``getJobsStatus``,
``createDelegation``)::

    from arc_intercede import getClient

    client = getClient(url="https://ce.example.org:443", proxypath="/tmp/x509up_u1000",
                       cadir="/etc/grid-security/certificates")
    ids = client.getJobsList()
    for job_id, result in zip(ids, client.getJobsStatus(ids)):
        print(job_id, result.value)    # a state such as "FINISHED", or the job's error

Same names, arguments and return conventions as pyarcrest — per-job results are lists aligned with
the ids given, each a :class:`Result` with ``.value`` and ``.error`` (the error *in place*) — over
:mod:`arc_intercede._rest`, so pyarcrest's defects are gone:

* TLS always verifies the CE against a CA directory or bundle, in proxy and token mode alike
  (``cadir``/``cafile``, else ``$X509_CERT_DIR``, else ``/etc/grid-security/certificates``);
* tokens work on both REST versions; ``$X509_USER_PROXY`` is the default proxy;
* bulk calls are cut into chunks A-REX reads whole, and every reply is checked id by id;
* no shared header dicts, no blind retry of a submission, timeouts always set, no bearer token in
  debug logs, session paths percent-encoded, listings with subdirectories (``dir``), guarded
  parsing of info documents (first ``arcrest:`` state, aware UTC times, no crash on ``ExitCode: ""``);
* a jwt delegation carries the bare token (A-REX adds ``Bearer`` itself).

Whole-call failures raise this library's typed errors (:class:`~arc_intercede.ARCBackendError`
and subclasses, the pyarcrest error chained), not pyarcrest's. pyarcrest's threaded helpers
(``submitJobs``, ``uploadJobFiles``, ``downloadJobFiles``, ``matchJob``, ``updateCredential``) are
not offered — they need ARC's Python bindings or carry unbounded, uncontained downloads; use
:class:`arc_intercede.ARCBackend` (or :mod:`arc_intercede.sync`) for those jobs. As in pyarcrest,
one client is one connection: use one per thread.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Generic, NoReturn, ParamSpec, Self, TypeVar
from urllib.parse import quote, urlsplit

from arc_intercede._rest import ClientSettings, JobReply, Rest10, Rest11, negotiate
from arc_intercede._rest.errors import map_arc_errors
from arc_intercede._rest.operations import _RestMixin
from arc_intercede.credentials import ProxyCredential, StaticToken, default_proxy_path, make_ssl_context
from arc_intercede.errors import ARCBackendError, CEResponseError, ConfigurationError, http_error

__all__ = ["ARCRest", "ARCRest_1_0", "ARCRest_1_1", "Result", "getClient"]

_log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

CHUNK: Final = 1000
"""Ids per bulk request (A-REX reads ~1 MiB of ids and silently drops the rest)."""
GRID_CA_DIR: Final = Path("/etc/grid-security/certificates")
MAX_DIAGNOSE_BYTES: Final = 64 * 1024 * 1024
DIAGNOSE_FILES: Final = ("failed", "local", "errors", "description", "diag", "comment", "status", "acl", "xml",
                         "input", "output", "input_status", "output_status", "statistics")
_INT_KEYS: Final = ("UsedTotalWallTime", "UsedTotalCPUTime", "RequestedTotalWallTime", "RequestedTotalCPUTime",
                    "RequestedSlots", "ExitCode", "WaitingPosition", "UsedMainMemory")
_COPY_KEYS: Final = ("Name", "Type", "LocalIDFromManager", "Owner", "LocalOwner", "StdIn", "StdOut", "StdErr",
                     "LogDir", "Queue")
_TIME_KEYS: Final = ("SubmissionTime", "EndTime", "WorkingAreaEraseTime", "ProxyExpirationTime")


@dataclass(frozen=True, slots=True)
class Result(Generic[T]):
    """One id's result in a bulk call, as pyarcrest's ``Result``.

    Attributes:
        value: The value, or (when ``error``) the error for this id, e.g. a
            :class:`~arc_intercede.CEResponseError` with ``status == 404`` for an unknown job.
        error: Whether ``value`` is an error.
    """

    value: T | ARCBackendError
    error: bool = False


def _mapped(what: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Translate lower-layer errors of a whole call into this library's typed errors."""

    def wrap(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            endpoint = getattr(args[0], "endpoint", "") if args else ""
            with map_arc_errors(endpoint, what):
                return fn(*args, **kwargs)

        return call

    return wrap


def _job_error(reply: JobReply) -> CEResponseError:
    reason = "job not found on the CE" if reply.code == 404 else reply.reason
    return CEResponseError(f"{reply.job_id}: {reply.code} {reason}".strip(), status=reply.code)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _chunks(ids: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield [str(i) for i in ids[start:start + size]]


class ARCRest(_RestMixin):
    """pyarcrest's ``ARCRest`` methods over the verified client (base of the per-version classes)."""

    _chunk: int = CHUNK
    _proxypath: Path | None = None
    _token_auth: bool = False

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def getClient(cls, *args: Any, **kwargs: Any) -> ARCRest_1_0 | ARCRest_1_1:
        """Same as :func:`getClient` (pyarcrest's ``ARCRest.getClient`` spelling)."""
        return getClient(*args, **kwargs)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- direct operations ----------------------------------------------------------------------

    @_mapped("API versions")
    def getAPIVersions(self) -> list[str]:
        """Return the REST API versions the CE offers."""
        return [str(v) for v in self.getAPIVersionsStatic(self.httpClient, self.apiBase)]  # type: ignore[attr-defined]

    @_mapped("CE info")
    def getCEInfo(self) -> dict[str, Any]:
        """Return the CE's GLUE2 info document (JSON as A-REX sends it)."""
        return self.ce_info()

    @_mapped("list jobs")
    def getJobsList(self) -> list[str]:
        """Return the ids of all jobs of this identity."""
        return self.list_jobs()

    @_mapped("create jobs")
    def createJobs(
        self, description: str | bytes, queue: str | None = None, delegationID: str | None = None, isADL: bool = True
    ) -> list[Result[tuple[str, str]]]:
        """Submit one description text (ADL, xRSL or multi-xRSL); one result per job: ``(id, state)``.

        ``isADL`` is accepted for compatibility: A-REX tells the language from the text. On REST
        1.0 ``queue`` and ``delegationID`` must be in the description (A-REX ignores the
        parameters there). Never retried.
        """
        # Bytes: http.client would encode a str body as Latin-1.
        data = description.encode("utf-8") if isinstance(description, str) else description
        results = super().createJobs(data, queue=queue, delegationID=delegationID, isADL=isADL)  # type: ignore[misc]
        out: list[Result[tuple[str, str]]] = []
        for result in results:
            if result.error:  # pyarcrest's per-job ARCHTTPError(status, reason)
                code = int(getattr(result.value, "status", 500))
                reason = str(getattr(result.value, "text", result.value))
                out.append(Result(CEResponseError(f"creation failed: {code} {reason}", status=code), error=True))
            else:
                job_id, state = result.value
                out.append(Result((str(job_id), str(state))))
        return out

    @_mapped("job info")
    def getJobsInfo(self, jobs: Sequence[str]) -> list[Result[dict[str, Any]]]:
        """Return each job's info as pyarcrest's dict (``state``, ``ExitCode``, ``Owner``, times, ...)."""
        out: list[Result[dict[str, Any]]] = []
        for chunk in _chunks(jobs, self._chunk):
            for reply, info in self.job_info(chunk):
                if info is None:
                    out.append(Result(_job_error(reply), error=True))
                else:
                    out.append(Result(self._parseJobInfo({"ComputingActivity": info.raw})))
        return out

    @_mapped("job status")
    def getJobsStatus(self, jobs: Sequence[str]) -> list[Result[str]]:
        """Return each job's REST state (``"RUNNING"``, ``"FINISHED"``, ...)."""
        out: list[Result[str]] = []
        for chunk in _chunks(jobs, self._chunk):
            out += [Result(r.value) if r.code == 200 and r.value else Result(_job_error(r), error=True)
                    for r in self.job_status(chunk)]
        return out

    def killJobs(self, jobs: Sequence[str]) -> list[Result[bool]]:
        """Ask the CE to kill each job; ``True`` means the request was queued."""
        return self._action(jobs, "kill")

    def cleanJobs(self, jobs: Sequence[str]) -> list[Result[bool]]:
        """Ask the CE to remove each job and its files."""
        return self._action(jobs, "clean")

    def restartJobs(self, jobs: Sequence[str]) -> list[Result[bool]]:
        """Ask the CE to restart each failed job."""
        return self._action(jobs, "restart")

    @_mapped("jobs action")
    def _action(self, jobs: Sequence[str], action: str) -> list[Result[bool]]:
        out: list[Result[bool]] = []
        for chunk in _chunks(jobs, self._chunk):
            out += [Result(True) if r.code == 202 else Result(_job_error(r), error=True)
                    for r in self.job_action(chunk, action)]
        return out

    @_mapped("job delegations")
    def getJobsDelegations(self, jobs: Sequence[str]) -> list[Result[list[str]]]:
        """Return the delegation ids each job uses."""
        out: list[Result[list[str]]] = []
        for chunk in _chunks(jobs, self._chunk):
            for job, entry in zip(chunk, self._manageJobs(chunk, "delegations"), strict=True):
                code = int(str(entry.get("status-code", "0")).strip() or 0)
                if code != 200:
                    out.append(Result(_job_error(JobReply(job, code, str(entry.get("reason", "")))), error=True))
                else:
                    out.append(Result([str(d) for d in _as_list(entry.get("delegation_id"))]))
        return out

    # --- session directory and diagnose files ---------------------------------------------------

    @_mapped("download listing")
    def downloadListing(self, jobid: str, sessionPath: str) -> dict[str, list[str]]:
        """List one level of a session directory: ``{"file": [...], "dirs": [...]}`` (also ``"dir"``)."""
        listing = self.list_dir(jobid, sessionPath.strip("/"))
        return {"file": list(listing.files), "dirs": list(listing.dirs), "dir": list(listing.dirs)}

    @_mapped("download file")
    def downloadFile(self, jobid: str, sessionPath: str, filePath: str | os.PathLike[str]) -> None:
        """Download one session file to ``filePath`` (written whole, then renamed into place)."""
        resp = self.open_file(jobid, sessionPath)
        target = Path(filePath)
        tmp = target.with_name(f".{target.name}.part")
        try:
            with open(tmp, "wb") as out:
                while block := resp.read(self.recvsize):
                    out.write(block)
            os.replace(tmp, target)
        except BaseException:
            self.abort()
            tmp.unlink(missing_ok=True)
            raise

    @_mapped("upload file")
    def uploadFile(self, jobid: str, sessionPath: str, filePath: str | os.PathLike[str]) -> None:
        """Upload a local file into the session directory (re-sent only by reopening the file)."""
        self.upload(jobid, sessionPath, Path(filePath))

    @_mapped("download diagnose file")
    def downloadDiagnoseFile(self, jobid: str, name: str, filePath: str | os.PathLike[str]) -> None:
        """Write one diagnose item (``errors``, ``failed``, ``diag``, ...) to ``filePath``."""
        if name not in DIAGNOSE_FILES:
            raise ConfigurationError(f"invalid diagnose file {name!r} (one of {', '.join(DIAGNOSE_FILES)})")
        text = self.diagnose(jobid, name, MAX_DIAGNOSE_BYTES)
        if text is None:
            raise CEResponseError(f"diagnose file {name} of {jobid} not found", endpoint=self.endpoint, status=404)
        Path(filePath).write_text(text, encoding="utf-8")

    # --- delegations ----------------------------------------------------------------------------

    @_mapped("list delegations")
    def getDelegationsList(self, type: str | None = None) -> list[dict[str, str]]:
        """Return the delegations as ``[{"id": ..., "type": ...}]`` (``[]`` when there are none)."""
        if type not in (None, "x509", "jwt"):
            raise ConfigurationError(f"delegation type must be 'x509' or 'jwt', not {type!r}")
        params = {"type": type} if type and self.VERSION != "1.0" else {}
        reply = self._json("GET", "/delegations", "list delegations", params=params)
        items = _as_list(reply.get("delegation") if isinstance(reply, dict) else None)
        return [{"id": str(d["id"]), "type": str(d.get("type", "x509"))}
                for d in items if isinstance(d, dict) and "id" in d]

    def _wants_token(self, token: str | None, proxypath: str | os.PathLike[str] | None) -> bool:
        # pyarcrest's priority: an explicit token, then an explicit proxy, then the client's credential.
        return bool(token) or (proxypath is None and self._token_auth and self._proxypath is None)

    def _proxy(self, proxypath: str | os.PathLike[str] | None) -> ProxyCredential:
        path = Path(proxypath) if proxypath is not None else self._proxypath
        if path is None:
            raise ConfigurationError("no proxy to sign the delegation with: pass proxypath=")
        return ProxyCredential.load(path)

    def _token(self, token: str | None) -> str:
        if token:
            return token
        source = self._settings.token_source
        if source is None:
            raise ConfigurationError("no token for a token delegation: pass token=")
        return source.token()

    @_mapped("new delegation")
    def newDelegation(
        self, token: str | None = None, proxypath: str | os.PathLike[str] | None = None
    ) -> tuple[str, str | None]:
        """Start a delegation: ``(id, CSR)`` for x509, ``(id, None)`` for a token (jwt, REST 1.1)."""
        if self._wants_token(token, proxypath):
            return self.new_token_delegation(self._token(token)), None
        return self.new_delegation()

    @_mapped("upload delegation")
    def uploadCertDelegation(self, delegationID: str, cert: str | bytes) -> None:
        """Upload the signed proxy chain for a delegation's CSR."""
        resp = self._request(  # type: ignore[attr-defined]
            "PUT", f"/delegations/{quote(delegationID, safe='')}", headers={"Content-Type": "application/x-pem-file"},
            data=cert.encode() if isinstance(cert, str) else cert,
        )
        text = resp.read(64 * 1024).decode("utf-8", "replace")
        if resp.status != 200:
            raise http_error(resp.status, text, endpoint=self.endpoint, what="upload delegation")

    @_mapped("get delegation")
    def getDelegation(self, delegationID: str) -> str:
        """Return a delegation's certificate chain (PEM, no key)."""
        resp = self._request(  # type: ignore[attr-defined]
            "POST", f"/delegations/{quote(delegationID, safe='')}", params={"action": "get"}
        )
        text = self._read_capped(resp, 1024 * 1024, "get delegation").decode("utf-8", "replace")
        if resp.status != 200:
            raise http_error(resp.status, text, endpoint=self.endpoint, what="get delegation")
        return text

    @_mapped("renew delegation")
    def renewDelegation(
        self, delegationID: str, token: str | None = None, proxypath: str | os.PathLike[str] | None = None
    ) -> str:
        """Ask for a fresh CSR of an x509 delegation (sign it and :meth:`uploadCertDelegation`).

        Raises:
            ConfigurationError: A token delegation was meant. A-REX 7 cannot renew those (it answers
                with an x509 CSR); create a new one with :meth:`createDelegation` instead.
        """
        if self._wants_token(token, proxypath):
            raise ConfigurationError(
                "A-REX cannot renew a token (jwt) delegation: create a new one with createDelegation(token=...)",
                endpoint=self.endpoint,
            )
        return self.renew_delegation(delegationID)

    @_mapped("delete delegation")
    def deleteDelegation(self, delegationID: str) -> None:
        """Delete a delegation."""
        resp = self._request(  # type: ignore[attr-defined]
            "POST", f"/delegations/{quote(delegationID, safe='')}", params={"action": "delete"}
        )
        text = resp.read(64 * 1024).decode("utf-8", "replace")
        if resp.status != 202:
            raise http_error(resp.status, text, endpoint=self.endpoint, what="delete delegation")

    @_mapped("create delegation")
    def createDelegation(
        self, token: str | None = None, proxypath: str | os.PathLike[str] | None = None,
        proxyLifetime: dt.timedelta | None = None,
    ) -> str:
        """Create a complete delegation and return its id (x509: CSR signed with the proxy; or a token).

        An x509 delegation whose signing or upload fails is deleted again, as pyarcrest does.
        """
        delegation_id, csr = self.newDelegation(token, proxypath)
        if csr is None:
            return delegation_id
        try:
            self.uploadCertDelegation(delegation_id, self._proxy(proxypath).sign_delegation(csr, proxyLifetime))
        except BaseException:
            try:
                self.deleteDelegation(delegation_id)
            except ARCBackendError as exc:
                _log.warning("could not delete half-made delegation %s: %s", delegation_id, exc)
            raise
        return delegation_id

    @_mapped("refresh delegation")
    def refreshDelegation(
        self, delegationID: str, token: str | None = None, proxypath: str | os.PathLike[str] | None = None,
        proxyLifetime: dt.timedelta | None = None,
    ) -> None:
        """Renew an x509 delegation with the proxy (its jobs get the fresh proxy too).

        Unlike pyarcrest, a failed refresh leaves the delegation in place: the jobs using it keep
        their current proxy.
        """
        csr = self.renewDelegation(delegationID, token, proxypath)
        self.uploadCertDelegation(delegationID, self._proxy(proxypath).sign_delegation(csr, proxyLifetime))

    # --- not offered ----------------------------------------------------------------------------

    def _not_offered(self, name: str, instead: str) -> NoReturn:
        raise NotImplementedError(f"{name} is not offered by arc_intercede's pyarcrest API: use {instead}")

    def submitJobs(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Not offered (needs ARC's Python bindings): use ``ARCBackend.submit``."""
        self._not_offered("submitJobs", "arc_intercede.ARCBackend.submit (or createJobs with xRSL/ADL text)")

    def uploadJobFiles(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Not offered: use :meth:`uploadFile` per file, or ``ARCBackend.submit``."""
        self._not_offered("uploadJobFiles", "uploadFile per file, or arc_intercede.ARCBackend.submit")

    def downloadJobFiles(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Not offered (pyarcrest's is unbounded and uncontained): use ``ARCBackend.fetch_output``."""
        self._not_offered("downloadJobFiles", "arc_intercede.ARCBackend.fetch_output (bounded, contained)")

    def matchJob(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Not offered: read :meth:`getCEInfo` (``ARCBackend.queues``/``counts``)."""
        self._not_offered("matchJob", "getCEInfo, or arc_intercede.ARCBackend.queues/counts")

    def updateCredential(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Not offered: make a new client with :func:`getClient`."""
        self._not_offered("updateCredential", "a new client from getClient(...)")

    # --- parsing --------------------------------------------------------------------------------

    @classmethod
    def _parseJobInfo(cls, infoDocument: dict[str, Any]) -> dict[str, Any]:
        """Return pyarcrest's info dict, parsed defensively: a bad field is left out, never fatal for the batch."""
        act = infoDocument.get("ComputingActivity", {})
        if not isinstance(act, dict):
            return {}
        info: dict[str, Any] = {k: act[k] for k in _COPY_KEYS if k in act}
        for key in _INT_KEYS:
            try:
                info[key] = int(str(act[key]).strip())
            except (KeyError, ValueError):
                pass
        for key in _TIME_KEYS:
            try:
                info[key] = dt.datetime.strptime(str(act[key]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
            except (KeyError, ValueError):
                pass
        for key in ("Error", "ExecutionNode"):
            if key in act:
                info[key] = _as_list(act[key])
        for src, dst in (("State", "state"), ("RestartState", "restartState")):
            # ARC's own client takes the first "arcrest:" value (pyarcrest the last).
            found = [s.removeprefix("arcrest:") for s in _as_list(act.get(src))
                     if isinstance(s, str) and s.startswith("arcrest:")]
            if found:
                info[dst] = found[0]
        return info


class ARCRest_1_0(ARCRest, Rest10):
    """pyarcrest's ``ARCRest_1_0`` over the verified client (tokens work here too)."""


class ARCRest_1_1(ARCRest, Rest11):
    """pyarcrest's ``ARCRest_1_1`` over the verified client."""


def _ca_location(
    cadir: str | os.PathLike[str] | None, cafile: str | os.PathLike[str] | None
) -> tuple[Path | None, Path | None]:
    if cadir is not None or cafile is not None:
        return (Path(cadir) if cadir else None, Path(cafile) if cafile else None)
    env = os.environ.get("X509_CERT_DIR")
    if env:
        return Path(env), None
    if GRID_CA_DIR.is_dir():
        return GRID_CA_DIR, None
    raise ConfigurationError(
        f"no CA certificates to verify the CE: pass cadir= or cafile=, or set X509_CERT_DIR ({GRID_CA_DIR} is missing)"
    )


def getClient(
    url: str | None = None,
    host: str | None = None,
    port: int | None = None,
    sendsize: int | None = None,
    recvsize: int | None = None,
    timeout: float | None = None,
    token: str | None = None,
    proxypath: str | os.PathLike[str] | None = None,
    apiBase: str = "/arex",
    version: str | None = None,
    *,
    cadir: str | os.PathLike[str] | None = None,
    cafile: str | os.PathLike[str] | None = None,
    connect_timeout: float = 10.0,
    chunk_size: int = CHUNK,
) -> ARCRest_1_0 | ARCRest_1_1:
    """Connect to a CE and return a client for the highest REST version both sides support.

    pyarcrest's ``ARCRest.getClient`` with the same parameters, plus the CA to verify the CE.

    Args:
        url: ``https://host[:port]`` (a path in it is ignored, as pyarcrest does; see ``apiBase``).
        host: The CE host, when no ``url`` is given.
        port: The CE port (default 443).
        sendsize: Accepted for compatibility (unused).
        recvsize: Block size for downloads (default 64 KiB).
        timeout: Read timeout in seconds (default 120; pyarcrest had none).
        token: A bearer token: used for authentication, on REST 1.0 and 1.1.
        proxypath: The proxy: the TLS client certificate when there is no token, and what x509
            delegations are signed with (default without a token: ``$X509_USER_PROXY`` or
            ``/tmp/x509up_u<uid>``).
        apiBase: The A-REX path (default ``/arex``).
        version: Pin ``"1.0"`` or ``"1.1"``.
        cadir: A hashed CA directory to verify the CE with.
        cafile: A PEM bundle of CA certificates to verify the CE with.
        connect_timeout: Connect timeout in seconds.
        chunk_size: Ids per bulk request.

    Returns:
        An :class:`ARCRest_1_1` or :class:`ARCRest_1_0` (one connection; use one per thread).

    Raises:
        ConfigurationError: Bad URL or parameters, or no CA certificates to be found.
        CredentialError: The proxy cannot be used as client certificate.
        TransportError: The CE cannot be reached or its certificate is not trusted.
        APIVersionError: No REST version in common (or the pinned one is not offered).
    """
    del sendsize
    if url:
        parts = urlsplit(url if "://" in url else f"https://{url}")
        if parts.scheme != "https":
            raise ConfigurationError(f"CE URL must use https, not {parts.scheme!r}: {url}")
        try:
            host, port = parts.hostname, parts.port or port
        except ValueError as exc:
            raise ConfigurationError(f"bad CE URL {url!r}: {exc}") from exc
    if not host:
        raise ConfigurationError("no CE host: pass url= or host=")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigurationError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    proxy = Path(proxypath) if proxypath is not None else (None if token else default_proxy_path())
    ca_dir, ca_file = _ca_location(cadir, cafile)
    ctx = make_ssl_context(ca_dir=ca_dir, ca_file=ca_file, client_cert=None if token else proxy)
    settings = ClientSettings(
        host=host, port=port or 443, api_base=apiBase, ssl_context=ctx, connect_timeout_s=connect_timeout,
        read_timeout_s=timeout or 120.0, token_source=StaticToken(token) if token else None,
    )
    with map_arc_errors(settings.endpoint, "API version negotiation"):
        client = negotiate(settings, version, impls={"1.0": ARCRest_1_0, "1.1": ARCRest_1_1})
    assert isinstance(client, ARCRest_1_0 | ARCRest_1_1)
    client._chunk, client._proxypath, client._token_auth = chunk_size, proxy, bool(token)
    if recvsize:
        client.recvsize = recvsize
    return client
