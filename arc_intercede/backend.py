"""``ARCBackend``: the interCEde backend contract over one ARC 7 CE's REST interface.

Composes the other modules and does no parsing or HTTP itself::

    async with ARCBackend(ARCConfig.from_file("ce.yaml")) as ce:
        sub = await ce.submit(SubmissionSpec(executable="/bin/hostname"), count=10)
        states = await ce.status(list(sub.ids.values()))

Registered as the ``arc`` entry point in the ``intercede.backends`` group.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, Self

from arc_intercede._rest import ClientSettings, ConnectionPool, JobInfo, JobReply, RestClient, unique
from arc_intercede.config import ARCConfig, AuthMode, HoldPolicy
from arc_intercede.contract import (
    Diagnostics,
    JobCounts,
    JobID,
    JobOutput,
    JobStatus,
    OpOutcome,
    Submission,
    SubmissionSpec,
)
from arc_intercede.credentials import FileToken, StaticToken, TLSContextProvider, TokenSource
from arc_intercede.credentials.renewal import RenewalTimer
from arc_intercede.delegation import Delegator
from arc_intercede.descriptions import spec_xrsl as xrsl
from arc_intercede.descriptions.model import JobDescription
from arc_intercede.errors import (
    ARCBackendError,
    CEResponseError,
    ConfigurationError,
    RequestNotSentError,
    TransportError,
)
from arc_intercede.glue2 import counts_from_info, queues_from_info
from arc_intercede.jobids import IdMap
from arc_intercede.outputs import OutputFetcher
from arc_intercede.states import to_statuses
from arc_intercede.transfer import TransferProgress
from arc_intercede.uploads import upload_inputs

__all__ = ["ARCBackend", "CredentialRequirements"]

_log = logging.getLogger(__name__)

DIAGNOSE_ITEMS: Final[tuple[str, ...]] = ("errors", "failed", "diag", "local", "status")
"""Diagnose items :meth:`ARCBackend.diagnostics` reads (A-REX has 14; these carry the story)."""
MAX_DIAGNOSE_BYTES: Final = 4 * 1024 * 1024
SUBMIT_BATCH: Final = 100
"""Copies per creation request (multi-xRSL); A-REX processes a request sequentially."""


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialRequirements:
    """What credentials this backend needs (IC-ADR-003 draft), read-only.

    Attributes:
        kinds: ``"token"`` and/or ``"x509-proxy"``.
        audience: The token audience the CE expects (``https://host:port`` by default).
        scopes: The token scopes the backend's operations need.
    """

    kinds: frozenset[str]
    audience: str | None
    scopes: frozenset[str]


class ARCBackend:
    """interCEde backend for one ARC CE endpoint (REST API 1.0/1.1, ARC 7).

    Implements ``Submitter``, ``Monitor``, ``OutputRetriever`` (non-destructive), ``Cancellable``,
    ``Purgeable``, ``LoadReporter`` and ``SupportsLiveDiagnostics``, plus :meth:`restart`,
    :meth:`info` and :meth:`renew_delegation`. Construction does no I/O; use it as an async context
    manager (or call :meth:`open` and :meth:`aclose`).

    Args:
        config: An :class:`ARCConfig`, a mapping of its fields, or a path to a YAML file.
    """

    destructive: bool = False
    """Fetching leaves the outputs on the CE; fetching twice gives the same result."""

    def __init__(self, config: ARCConfig | Mapping[str, Any] | str | Path) -> None:
        if isinstance(config, ARCConfig):
            self.config = config
        elif isinstance(config, str | Path):
            self.config = ARCConfig.from_file(config)
        else:
            self.config = ARCConfig.from_mapping(config)
        self._state = _State.NEW
        self._pool: ConnectionPool | None = None
        self._delegator: Delegator | None = None
        self._renewal: RenewalTimer | None = None
        self._token: TokenSource | None = None
        self._held_since: dict[str, float] = {}
        self._tls: TLSContextProvider | None = None

    def __repr__(self) -> str:
        return f"ARCBackend({self.config.endpoint!r}, {self._state.value})"

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def credential_requirements(self) -> CredentialRequirements:
        """The credentials this backend needs: kinds, token audience and scopes."""
        mode = self.config.auth_mode
        kinds = {AuthMode.TOKEN: {"token"}, AuthMode.PROXY: {"x509-proxy"},
                 AuthMode.TOKEN_WITH_PROXY: {"token", "x509-proxy"}}[mode]
        token = mode is not AuthMode.PROXY
        return CredentialRequirements(
            kinds=frozenset(kinds),
            audience=self.config.effective_audience if token else None,
            scopes=frozenset(self.config.scopes) if token else frozenset(),
        )

    @property
    def api_version(self) -> str:
        """The REST API version in use (after opening)."""
        return self._open_pool().api_version

    async def open(self) -> Self:
        """Connect and negotiate the REST API version. Idempotent while open.

        Raises:
            ConfigurationError, CredentialError, TransportError, APIVersionError.
        """
        if self._state is _State.CLOSED:
            raise RuntimeError("ARCBackend is closed")
        if self._state is _State.OPEN:
            return self
        cfg = self.config
        if cfg.token is not None:
            self._token = StaticToken(cfg.token)
        elif cfg.token_file is not None:
            self._token = FileToken(cfg.token_file)
        client_cert = cfg.proxy if cfg.auth_mode is AuthMode.PROXY else None
        # New connections take the context of the current proxy file (a renewed proxy is used).
        ctx = TLSContextProvider(ca_dir=cfg.ca_dir, ca_file=cfg.ca_file, client_cert=client_cert,
                                 crl_policy=cfg.crl_policy)
        settings = ClientSettings(
            host=cfg.host, port=cfg.port, api_base=cfg.api_base, ssl_context=ctx,
            connect_timeout_s=cfg.connect_timeout_s, read_timeout_s=cfg.read_timeout_s,
            token_source=self._token, request_timeout_s=cfg.request_timeout_s,
        )
        self._tls = ctx
        pool = ConnectionPool(settings, max_connections=cfg.max_connections, chunk_size=cfg.chunk_size,
                        api_version=cfg.api_version, shared_threads=cfg.shared_threads,
                        shared_connections=cfg.shared_connections)
        await pool.open()
        self._pool = pool
        if cfg.proxy is not None:
            self._delegator = Delegator(pool, cfg.proxy, cfg.delegation_renew_margin_s)
            self._renewal = RenewalTimer(self._delegator, cfg.delegation_refresh_s)
            self._renewal.start()
        self._state = _State.OPEN
        _log.info("connected to %s (REST %s, %s auth)", cfg.endpoint, pool.api_version, cfg.auth_mode.value)
        return self

    async def aclose(self) -> None:
        """Close all connections. Safe to call more than once."""
        if self._renewal is not None:
            await self._renewal.aclose()
            self._renewal = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self._state = _State.CLOSED

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _open_pool(self) -> ConnectionPool:
        if self._state is _State.CLOSED:
            raise RuntimeError("ARCBackend is closed")
        if self._pool is None:
            raise RuntimeError("ARCBackend is not open: use 'async with ARCBackend(...)' or await open()")
        return self._pool

    # --- submission -----------------------------------------------------------------------------

    async def submit(self, spec: SubmissionSpec, count: int = 1) -> Submission:
        """Create ``count`` copies of ``spec``: one delegation, bulk creation, parallel uploads.

        Returns:
            Per copy index, the job id or the reason it failed. A copy whose input upload failed
            is killed and purged, and reported as a failure. If a creation request fails after
            earlier ones created copies, the remaining copies are reported as failures.

        Raises:
            ConfigurationError: The spec cannot be expressed (nothing was submitted).
            CredentialError, TransportError, CEResponseError: The first creation request failed
                (then no copy was created, unless the connection died after A-REX received it).
        """
        pool = self._open_pool()
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigurationError(f"count must be a positive integer, got {count!r}")
        try:
            xrsl.render_xrsl(spec, queue=self.config.queue, delegation_id=None)  # validate before touching the CE
            delegation_id = await self._delegation_for(spec)
            job = xrsl.render_xrsl(spec, queue=self.config.queue, delegation_id=delegation_id)
        except xrsl.DescriptionError as exc:
            raise ConfigurationError(f"job specification: {exc}", endpoint=pool.endpoint) from exc
        ids: dict[int, JobID] = {}
        failures: dict[int, str] = {}
        # A-REX re-serialises each job of a multi-xRSL request, undoing the protection of "(*" in
        # values: such a job is created one description per request (exact either way).
        batch = SUBMIT_BATCH if job.bulk_safe else 1
        for start in range(0, count, batch):
            n = min(batch, count - start)
            try:
                replies = await pool.call(
                    partial(_create, text=xrsl.render_bulk([job.text] * n), queue=self.config.queue,
                            delegation_id=delegation_id),
                    "create jobs",
                )
            except ARCBackendError as exc:
                if not ids:
                    raise  # nothing was created: the whole submission failed
                # Copies created by earlier requests must not be lost: report the rest per copy.
                failures.update((k, _creation_failure(exc)) for k in range(start, start + n))
                failures.update((k, f"not submitted: an earlier creation request failed: {exc}")
                                for k in range(start + n, count))
                break
            for k in range(n):
                reply = replies[k] if k < len(replies) else None
                if reply is None:
                    failures[start + k] = "no reply from the CE for this copy"
                elif reply.code == 201 and reply.job_id:
                    ids[start + k] = reply.job_id
                else:
                    failures[start + k] = f"creation failed: {reply.code} {reply.reason}"
        if job.uploads and ids:
            await self._upload(ids, failures, job.uploads)
        _log.info("submitted %d of %d copies to %s", len(ids), count, pool.endpoint)
        return Submission(ids=ids, failures=failures)

    async def submit_descriptions(
        self, jobs: Sequence[JobDescription], *, matchmaking: bool = True, wire: str = "adl",
    ) -> Submission:
        """Create parsed xRSL/ADL jobs (several files' worth in one call) through the bulk path.

        Each job is matched against the CE's GLUE2 info (unless ``matchmaking`` is False), prepared
        as ARC's client does, sent in bulk creation requests (ADL ``ActivityDescriptions`` by
        default, or A-REX-side multi-xRSL with ``wire="xrsl"``), and its local inputs uploaded.

        Returns:
            Per job index, the job id or the reason it was not created (a failed match or
            preparation names the unmet requirement; nothing is sent for such a job).

        Raises:
            CredentialError, TransportError, CEResponseError: The first creation request failed.
        """
        from arc_intercede.descriptions.matchmaking import MatchError, match, targets_from_info
        from arc_intercede.descriptions.model import DescriptionSyntaxError
        from arc_intercede.descriptions.prepare import prepare, to_wire

        pool = self._open_pool()
        if not jobs:
            return Submission(ids={}, failures={})
        failures: dict[int, str] = {}
        ready: dict[int, Any] = {}
        targets = targets_from_info(await self.ce_info()) if matchmaking else None
        for i, job in enumerate(jobs):
            try:
                chosen = match(job, targets) if targets is not None else job
                ready[i] = prepare(chosen)
            except (MatchError, DescriptionSyntaxError) as exc:
                failures[i] = str(exc)
        delegation_id = await self._delegator.ensure() if self._delegator is not None else None
        language: Literal["adl", "xrsl"] = "xrsl" if wire == "xrsl" else "adl"
        order = sorted(ready)
        bodies: dict[int, str] = {}
        for i in order:  # refuse what cannot be expressed before any request
            try:
                bodies[i] = to_wire([ready[i].job], language=language, delegation_id=delegation_id)
            except DescriptionSyntaxError as exc:
                failures[i] = str(exc)
        order = [i for i in order if i in bodies]
        ids: dict[int, JobID] = {}
        for start in range(0, len(order), SUBMIT_BATCH):
            chunk = order[start:start + SUBMIT_BATCH]
            text = to_wire([ready[i].job for i in chunk], language=language, delegation_id=delegation_id)
            try:
                replies = await pool.call(
                    partial(_create, text=text, queue=None, delegation_id=delegation_id, is_adl=language == "adl"),
                    "create jobs")
            except ARCBackendError as exc:
                if not ids:
                    raise
                failures.update((i, _creation_failure(exc)) for i in order[start:])
                break
            for k, i in enumerate(chunk):
                reply = replies[k] if k < len(replies) else None
                if reply is None:
                    failures[i] = "no reply from the CE for this job"
                elif reply.code == 201 and reply.job_id:
                    ids[i] = reply.job_id
                else:
                    failures[i] = f"creation failed: {reply.code} {reply.reason}"
        for i in list(ids):
            if ready[i].uploads:
                await self._upload({i: ids[i]}, failures, ready[i].uploads)
        _log.info("submitted %d of %d parsed jobs to %s", len(ids), len(jobs), pool.endpoint)
        return Submission(ids=ids, failures=failures)

    async def _delegation_for(self, spec: SubmissionSpec) -> str | None:
        if self._delegator is not None:
            return await self._delegator.ensure()
        needs_staging = any("://" in str(f.source) for f in spec.input_sandbox)
        if needs_staging and self._token is not None and self.api_version == "1.1":
            token = self._token.token()
            return await self._open_pool().call(lambda c: c.new_token_delegation(token),
                                                  "create token delegation")
        return None

    async def _upload(self, ids: dict[int, JobID], failures: dict[int, str],
                      uploads: Sequence[xrsl.Upload]) -> None:
        """Upload every copy's inputs (:func:`~arc_intercede.uploads.upload_inputs`: retries, cancels)."""
        await upload_inputs(self._open_pool(), ids, failures, uploads, retry_s=self.config.upload_retry_s,
                            kill=self.kill, purge=self.purge)

    # --- monitoring -----------------------------------------------------------------------------

    async def status(self, ids: Sequence[JobID]) -> Mapping[JobID, JobStatus]:
        """Return the state of each id (``UNKNOWN`` for ids the CE does not know).

        Ids that cannot name an ARC job (empty, whitespace, ``.``, ``..``, ``/``, NUL, ...) are
        ``UNKNOWN`` without a request; an id the CE leaves out of a bulk reply is asked alone.

        Raises:
            CredentialError, TransportError, CEResponseError: The poll failed as a whole; no
            job state is inferred from it.
        """
        given = IdMap(ids, self.config.endpoint)  # job URLs and stray whitespace -> bare ids
        ids = given.ids
        out = await self._open_pool().job_states(ids, to_statuses)
        await self._apply_hold_policy(out)
        return given.rekey(out)

    async def info(self, ids: Sequence[JobID]) -> Mapping[JobID, JobInfo | None]:
        """Return A-REX's info (state, exit code, owner, errors, ...) per id; None if unknown."""
        given = IdMap(ids, self.config.endpoint)  # job URLs and stray whitespace -> bare ids
        ids = given.ids
        replies = await self._open_pool().job_info(ids)
        return given.rekey({job_id: info for job_id, (_, info) in replies.items()})

    async def _apply_hold_policy(self, states: dict[JobID, JobStatus]) -> None:
        now = time.monotonic()
        held = JobStatus.HELD
        if held in states.values():  # a C-level scan; per-id work only when some job is held
            for job_id in [j for j, s in states.items() if s is held]:
                self._held_since.setdefault(job_id, now)
        for job_id in [j for j in self._held_since if states.get(j, held) is not held]:
            del self._held_since[job_id]
        if self.config.hold_policy is not HoldPolicy.KILL:
            return
        overdue = [j for j, since in self._held_since.items()
                   if j in states and now - since >= self.config.hold_grace_s]
        if overdue:
            _log.warning("killing %d job(s) held longer than %g s", len(overdue), self.config.hold_grace_s)
            outcomes = await self.kill(overdue)
            for job_id, outcome in outcomes.items():
                if outcome.ok:
                    self._held_since.pop(job_id, None)

    async def counts(self) -> JobCounts:
        """Return running and waiting jobs of the configured queue (of the whole CE without one).

        Counts come from the CE's GLUE2 info: every submitter's jobs in that share, ``waiting``
        including staging and pre-LRMS waiting jobs; they lag the CE's info cycle.

        Raises:
            ConfigurationError: The configured queue is not advertised by the CE.
        """
        pool = self._open_pool()
        info = await pool.call(lambda c: c.ce_info(), "CE info")
        counts = counts_from_info(info, self.config.queue)
        if counts is None:
            queues = ", ".join(queues_from_info(info)) or "none"
            raise ConfigurationError(
                f"queue {self.config.queue!r} is not advertised by the CE (queues: {queues})",
                endpoint=pool.endpoint,
            )
        return counts

    async def ce_info(self) -> Mapping[str, Any]:
        """Return the CE's raw GLUE2 info document."""
        return await self._open_pool().call(lambda c: c.ce_info(), "CE info")

    async def queues(self) -> list[str]:
        """Return the queue names the CE advertises."""
        return queues_from_info(await self.ce_info())

    async def jobs(self) -> list[JobID]:
        """Return the ids of all jobs this identity has on the CE."""
        return await self._open_pool().call(lambda c: c.list_jobs(), "list jobs")

    # --- management -----------------------------------------------------------------------------

    async def _action(self, ids: Sequence[JobID], action: str) -> Mapping[JobID, OpOutcome]:
        replies = await self._open_pool().job_action(ids, action)
        return {job_id: _outcome(r) for job_id, r in replies.items()}

    async def kill(self, ids: Sequence[JobID]) -> Mapping[JobID, OpOutcome]:
        """Ask the CE to kill each job; ``ok`` means the request was queued (KILLING follows)."""
        given = IdMap(ids, self.config.endpoint)  # job URLs and stray whitespace -> bare ids
        ids = given.ids
        return given.rekey(await self._action(ids, "kill"))

    async def purge(self, ids: Sequence[JobID]) -> Mapping[JobID, OpOutcome]:
        """Ask the CE to remove each job and its files; afterwards the id is ``UNKNOWN``."""
        given = IdMap(ids, self.config.endpoint)  # job URLs and stray whitespace -> bare ids
        ids = given.ids
        return given.rekey(await self._action(ids, "clean"))

    async def restart(self, ids: Sequence[JobID]) -> Mapping[JobID, OpOutcome]:
        """Re-run failed jobs from the step that failed (ARC's ``restart``); per-id outcomes."""
        given = IdMap(ids, self.config.endpoint)  # job URLs and stray whitespace -> bare ids
        ids = given.ids
        if self._delegator is not None:
            await self._delegator.ensure()
        return given.rekey(await self._action(ids, "restart"))

    async def renew_jobs(self, ids: Sequence[JobID]) -> Mapping[JobID, OpOutcome]:
        """Renew each job's delegation from the proxy file, like ARC's ``arcrenew``; per-id outcomes.

        A delegation is renewed only from a proxy that outlives it and is not attribute-poorer (VOMS).
        """
        given = IdMap(ids, self.config.endpoint)
        if self._delegator is None:
            return given.rekey({i: OpOutcome(ok=False, reason="no proxy configured") for i in given.ids})
        replies = await self._open_pool().job_delegations(given.ids)
        done: dict[str, str | None] = {}
        out: dict[JobID, OpOutcome] = {}
        for job_id, reply in replies.items():
            if reply.code != 200 or not reply.value:
                out[job_id] = _outcome(reply) if reply.code != 200 else OpOutcome(ok=False, reason="no delegation")
                continue
            reasons = []
            for delegation_id in reply.value.split(","):
                if delegation_id not in done:
                    done[delegation_id] = await self._delegator.renew_job_delegation(delegation_id)
                if done[delegation_id] is not None:
                    reasons.append(str(done[delegation_id]))
            out[job_id] = OpOutcome(ok=not reasons, reason="; ".join(reasons) or f"renewed {reply.value}")
        return given.rekey(out)

    async def renew_delegation(self) -> str | None:
        """Push the current proxy file into the delegation now; returns its id (None: no proxy)."""
        if self._delegator is None:
            return None
        self._open_pool()
        return await self._delegator.renew()

    async def reload_proxy(self) -> None:
        """Start using the proxy file's current content, after it was replaced on disk.

        New connections pick up a replaced proxy file on their own; this also closes the idle
        connections at once (proxy mode), so the next call presents the new proxy, and renews an
        existing delegation with it, so running jobs get it too.

        Raises:
            CredentialError: The proxy file cannot be used.
        """
        pool = self._open_pool()
        proxy = self.config.proxy
        if proxy is None:
            return
        if self.config.auth_mode is AuthMode.PROXY and self._tls is not None:
            self._tls.context()  # rebuilt from the file now; an unusable proxy raises CredentialError
            await pool.close_idle()
        if self.delegation_id is not None:
            await self.renew_delegation()

    @property
    def delegation_id(self) -> str | None:
        """The delegation used for submissions (None before the first one, or without a proxy)."""
        return self._delegator.delegation_id if self._delegator is not None else None

    # --- diagnostics and outputs ----------------------------------------------------------------

    async def diagnostics(self, ids: Sequence[JobID]) -> Mapping[JobID, Diagnostics]:
        """Return the CE's diagnose items per job (``errors``, ``failed``, ``diag``, ...).

        Usable while the job runs; an item the CE does not have yet is simply absent.
        """
        given = IdMap(ids, self.config.endpoint)  # job URLs and stray whitespace -> bare ids
        ids = given.ids
        pool = self._open_pool()
        states = await pool.job_status(ids)
        found = [j for j, r in states.items() if r.found]
        work = [(j, name) for j in found for name in DIAGNOSE_ITEMS]
        texts = await pool.each(work, lambda c, w: c.diagnose(w[0], w[1], MAX_DIAGNOSE_BYTES), "diagnose")
        files: dict[str, dict[str, str]] = {j: {} for j in found}
        for (job_id, name), text in zip(work, texts, strict=True):
            if isinstance(text, CEResponseError):  # this item only (e.g. a job purged meanwhile)
                _log.debug("diagnose %s of %s: %s", name, job_id, text)
            elif isinstance(text, BaseException):
                raise text
            elif text is not None:
                files[job_id][name] = text
        return given.rekey({
            j: Diagnostics(found=True, files=files[j]) if j in files
            else Diagnostics(found=False, reason="job not found on the CE")
            for j in unique(ids)
        })

    async def fetch_output(
        self, ids: Sequence[JobID], dest: Path,
        progress: Callable[[TransferProgress], None] | None = None,
    ) -> Mapping[JobID, JobOutput]:
        """Fetch each finished job's session directory into ``dest/<job id>/`` (non-destructive).

        Args:
            ids: Jobs to fetch.
            dest: Destination directory (created if missing).
            progress: Called on the event loop with each job's progress.

        Returns:
            Per id, exactly once, the manifest. ``complete`` is True exactly when every listed
            member was fetched in full, every declared output is there and the CE's log (if any)
            was written; otherwise ``reason`` is ``"<code>: <detail>"`` with a code from
            :data:`arc_intercede.transfer.REASON_CODES` (``not-found``, ``not-finished``,
            ``limit:bytes|files|timeout|listing``, ``unsafe-path``, ``truncated``, ``protocol``,
            ``local-io``, ``missing-output``, ...). One job's trouble never affects another's.

        Raises:
            CredentialError: The CE refused the credential.
            TransportError: The CE could not be reached (``kind`` empty).
        """
        given = IdMap(ids, self.config.endpoint)  # job URLs and stray whitespace -> bare ids
        ids = given.ids
        fetcher = OutputFetcher(self._open_pool(), self.config.limits, self.config.transfer_concurrency)
        return given.rekey(await fetcher.fetch(ids, Path(dest), progress))


def _create(client: RestClient, *, text: str, queue: str | None, delegation_id: str | None,
            is_adl: bool = False) -> list[JobReply]:
    return client.create_jobs(text, queue=queue, delegation_id=delegation_id, is_adl=is_adl)



def _outcome(reply: JobReply) -> OpOutcome:
    if reply.code == 202:
        return OpOutcome(ok=True, reason=reply.reason)
    if reply.code == 404:
        return OpOutcome(ok=False, reason="job not found on the CE")
    return OpOutcome(ok=False, reason=f"{reply.code} {reply.reason}".strip())


def _creation_failure(exc: ARCBackendError) -> str:
    """Why a copy of a failed creation request is not reported, and whether it may exist anyway."""
    if isinstance(exc, TransportError) and not isinstance(exc, RequestNotSentError):
        # the request may have reached A-REX before the connection failed; it is never re-sent
        return f"creation request failed, its reply was lost (the CE may have created this copy): {exc}"
    return f"not submitted: {exc}"
