"""Delegation renewal on the backend's own timer.

A quiet period (no submissions) must not let the delegations of running jobs expire.

Every ``delegation_refresh_s`` the timer asks the :class:`~arc_intercede.delegation.Delegator` to look at the
proxy file (a ``stat`` when nothing changed). A proxy replaces the delegated one only if it lives longer
**and** carries at least the same VOMS attributes (per VO, a superset of the FQANs): a plain or poorer proxy,
or a shorter-lived one, never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from cryptography import x509

from arc_intercede.credentials.voms import der
from arc_intercede.credentials.voms.ac import proxy_acs
from arc_intercede.errors import ARCBackendError

if TYPE_CHECKING:
    from arc_intercede.delegation import Delegator

__all__ = ["RenewalTimer", "poorer_reason", "voms_attributes"]

_log = logging.getLogger(__name__)


def voms_attributes(chain: Sequence[x509.Certificate]) -> dict[str, frozenset[str]]:
    """Per VO, the FQANs the ACs of ``chain`` carry (empty for a plain proxy or unparsable ACs)."""
    try:
        acs = proxy_acs(chain)
    except der.DERError:
        return {}
    out: dict[str, frozenset[str]] = {}
    for ac in acs:
        out[ac.vo] = out.get(ac.vo, frozenset()) | frozenset(ac.fqans)
    return out


def poorer_reason(new: Mapping[str, frozenset[str]], old: Mapping[str, frozenset[str]]) -> str | None:
    """Why a proxy with attributes ``new`` would be poorer than one with ``old`` (None: it is not)."""
    for vo, fqans in old.items():
        if vo not in new:
            return f"it has no attributes of VO {vo}"
        missing = sorted(fqans - new[vo])
        if missing:
            return f"it lacks {', '.join(missing)}"
    return None


class RenewalTimer:
    """Runs :meth:`Delegator.refresh` every ``interval_s`` seconds in a background task."""

    def __init__(self, delegator: Delegator, interval_s: float) -> None:
        self._delegator = delegator
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task (on the running loop); idempotent."""
        if self._task is None and self._interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="arc-intercede delegation timer")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._delegator.refresh()
            except ARCBackendError as exc:  # the next tick tries again; submissions still renew as before
                _log.warning("delegation renewal failed: %s", exc)

    async def aclose(self) -> None:
        """Stop the task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
