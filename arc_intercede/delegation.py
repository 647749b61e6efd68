"""Proxy delegation to A-REX: create once, reuse, renew before expiry, replace when stale.

A delegation is a copy of the user's proxy that A-REX keeps for the jobs (stage-in/out, and
the job's own proxy). The flow is: ``POST delegations?action=new`` -> CSR -> sign the CSR with
the local proxy -> ``PUT`` the chain. Renewal (``action=renew`` + ``PUT``) also refreshes the
proxy of every job that uses the delegation.

Policy:
* One delegation per backend, shared by every submission (as DIRAC does since PR #7048).
* It is renewed when it has less than ``margin`` left **and** the proxy file holds a fresher
  proxy (renewing with the same proxy gains nothing). Status polls never renew (DIRAC renewed on
  every poll, PR #6679).
* A delegation the CE no longer knows (404, "ghost" ids, bugzilla 4133) is replaced by a new one.
* :meth:`Delegator.refresh` (the backend's timer, ``credentials/renewal.py``) renews without a submission,
  and only from a proxy that lives longer and is not attribute-poorer (VOMS FQANs) than the delegated one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

from cryptography import x509

from arc_intercede._rest import ConnectionPool
from arc_intercede.credentials import ProxyCredential, file_stamp
from arc_intercede.credentials.renewal import poorer_reason, voms_attributes
from arc_intercede.errors import ARCBackendError, CredentialError

__all__ = ["Delegator"]

_log = logging.getLogger(__name__)


class Delegator:
    """Keeps one x509 delegation alive on one CE for one proxy file."""

    def __init__(self, pool: ConnectionPool, proxy_path: Path, margin_s: float) -> None:
        self._pool = pool
        self._path = proxy_path
        self._margin = dt.timedelta(seconds=margin_s)
        self._lock = asyncio.Lock()
        self._proxy: ProxyCredential | None = None
        self._stamp: tuple[int, int] | None = None
        self.delegation_id: str | None = None
        self.expires: dt.datetime | None = None
        self.attributes: dict[str, frozenset[str]] = {}
        """Per VO, the FQANs of the delegated proxy."""

    def _load_proxy(self) -> ProxyCredential:
        """Return the proxy, re-reading the file when it changed on disk."""
        stamp = file_stamp(self._path, "proxy")
        if self._proxy is None or stamp != self._stamp:
            self._proxy, self._stamp = ProxyCredential.load(self._path), stamp
        return self._proxy

    async def ensure(self) -> str:
        """Return a usable delegation id, creating or renewing it as the policy says.

        Raises:
            CredentialError: The proxy is unreadable or expired.
            ARCBackendError: The CE refused to create a delegation.
        """
        async with self._lock:
            proxy = self._load_proxy()
            now = dt.datetime.now(dt.UTC)
            if self.delegation_id is not None and self.expires is not None:
                left = self.expires - now
                fresher = proxy.not_after > self.expires
                if left > self._margin or not fresher:
                    if left.total_seconds() <= 0:
                        raise CredentialError("delegated proxy expired and no fresher proxy is available")
                    return self.delegation_id
                if await self._renew(self.delegation_id, proxy):
                    return self.delegation_id
            return await self._create(proxy)

    async def renew(self) -> str | None:
        """Push the current proxy file into the delegation now (refreshes running jobs' proxies)."""
        async with self._lock:
            if self.delegation_id is None:
                return None
            proxy = self._load_proxy()
            if await self._renew(self.delegation_id, proxy):
                return self.delegation_id
            return await self._create(proxy)

    async def refresh(self) -> bool:
        """Renew the delegation from the proxy file if it holds a longer-lived, not poorer proxy.

        Returns:
            Whether the delegation was renewed (or replaced).

        Raises:
            ARCBackendError: The CE refused or could not be reached (a missing or expired proxy file is
                logged and skipped).
        """
        async with self._lock:
            if self.delegation_id is None or self.expires is None:
                return False
            try:
                proxy = self._load_proxy()
            except CredentialError as exc:
                _log.info("delegation %s not renewed: %s", self.delegation_id, exc)
                return False
            if proxy.not_after <= self.expires:
                return False
            reason = poorer_reason(_attributes(proxy), self.attributes)
            if reason is not None:
                _log.warning("delegation %s not renewed from %s: %s", self.delegation_id, self._path, reason)
                return False
            if not await self._renew(self.delegation_id, proxy):
                await self._create(proxy)
            return True

    async def renew_job_delegation(self, delegation_id: str) -> str | None:
        """Renew another delegation (a job's, as ``arcrenew`` does) from the proxy file.

        Only a proxy that outlives the delegated one and is not attribute-poorer replaces it.

        Returns:
            None when renewed, else why not (one line).

        Raises:
            CredentialError: The proxy file is missing or expired.
            ARCBackendError: The CE failed.
        """
        async with self._lock:
            proxy = self._load_proxy()
            pem = await self._pool.call(lambda c: c.get_delegation(delegation_id), "get delegation")
            if pem is None:
                return f"delegation {delegation_id} not found on the CE"
            chain = x509.load_pem_x509_certificates(pem.encode("ascii", "replace"))
            if proxy.not_after <= chain[0].not_valid_after_utc:
                return (f"not renewed: the proxy file does not outlive delegation {delegation_id} "
                        f"(until {chain[0].not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC)")
            reason = poorer_reason(_attributes(proxy), voms_attributes(chain))
            if reason is not None:
                return f"not renewed: the proxy file's proxy is attribute-poorer ({reason})"
            csr = await self._pool.call(lambda c: c.renew_delegation(delegation_id), "renew delegation")
            signed = proxy.sign_delegation(csr)
            await self._pool.call(lambda c: c.put_delegation(delegation_id, signed), "upload delegation")
            if delegation_id == self.delegation_id:
                self.expires, self.attributes = proxy.not_after, _attributes(proxy)
            _log.info("renewed job delegation %s (valid until %s)", delegation_id, proxy.not_after.isoformat())
            return None

    async def _create(self, proxy: ProxyCredential) -> str:
        delegation_id, csr = await self._pool.call(lambda c: c.new_delegation(), "create delegation")
        pem = proxy.sign_delegation(csr)
        await self._pool.call(lambda c: c.put_delegation(delegation_id, pem), "upload delegation")
        self.delegation_id, self.expires = delegation_id, proxy.not_after
        self.attributes = _attributes(proxy)
        _log.info("created delegation %s (valid until %s)", delegation_id, proxy.not_after.isoformat())
        return delegation_id

    async def _renew(self, delegation_id: str, proxy: ProxyCredential) -> bool:
        try:
            csr = await self._pool.call(lambda c: c.renew_delegation(delegation_id), "renew delegation")
            pem = proxy.sign_delegation(csr)
            await self._pool.call(lambda c: c.put_delegation(delegation_id, pem), "upload delegation")
        except CredentialError:
            raise
        except ARCBackendError as exc:
            if exc.transient and getattr(exc, "status", None) is None:
                raise  # transport trouble: do not replace a delegation that may be fine
            _log.warning("delegation %s could not be renewed (%s); creating a new one", delegation_id, exc)
            self.delegation_id = self.expires = None
            return False
        self.expires = proxy.not_after
        self.attributes = _attributes(proxy)
        _log.info("renewed delegation %s (valid until %s)", delegation_id, proxy.not_after.isoformat())
        return True


def _attributes(proxy: ProxyCredential) -> dict[str, frozenset[str]]:
    return voms_attributes(x509.load_pem_x509_certificates(proxy.chain_pem))
