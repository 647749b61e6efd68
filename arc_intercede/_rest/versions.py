"""The per-version clients ``Rest10``/``Rest11`` and version negotiation (pyarcrest's own)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

# Private aliases: nothing public here may hand out pyarcrest's own (unverified) classes.
from pyarcrest.arc import ARCRest as _PyARCRest
from pyarcrest.arc import ARCRest_1_0 as _PyARCRest10
from pyarcrest.arc import ARCRest_1_1 as _PyARCRest11
from pyarcrest.errors import ARCError, ARCHTTPError

from arc_intercede._rest.models import ClientSettings
from arc_intercede._rest.operations import _RestMixin
from arc_intercede._rest.transport import SafeHTTPClient
from arc_intercede.errors import (
    APIVersionError,
)

_log = logging.getLogger(__name__)


class Rest10(_RestMixin, _PyARCRest10):
    """ARC REST API 1.0 (ARC 6 and 7); tokens work here too."""

    VERSION = "1.0"


class Rest11(_RestMixin, _PyARCRest11):
    """ARC REST API 1.1 (ARC 7): queue and delegation as request parameters, jwt delegations."""

    VERSION = "1.1"


RestClient = Rest10 | Rest11


class _Negotiator(_RestMixin, _PyARCRest):
    """Entry point for pyarcrest's ``getClient`` (bound per CE by :func:`negotiate`)."""

    VERSION = ""


def negotiate(
    settings: ClientSettings, version: str | None = None, *, impls: Mapping[str, type[Rest10 | Rest11]] | None = None
) -> Rest10 | Rest11:
    """Connect, ask the CE for its REST versions, and return a client for the best common one.

    Version selection is pyarcrest's own (``getClient``/``_getImplementations``): the highest
    version both sides support, or ``version`` when pinned. ``impls`` replaces the classes per
    version (subclasses of :class:`Rest10`/:class:`Rest11`).

    Raises:
        APIVersionError: No common version, or the pinned one is not offered.
    """
    bases: Mapping[str, type[Rest10 | Rest11]] = impls or {"1.0": Rest10, "1.1": Rest11}
    impls = {v: type(cls.__name__, (cls,), {"_settings": settings}) for v, cls in bases.items()}
    for impl in impls.values():
        impl._impls = impls
    created: list[SafeHTTPClient] = []
    bound: type[Any] = type("Negotiator", (_Negotiator,),
                            {"_settings": settings, "_impls": impls, "_created": created})
    try:
        client = bound.getClient(
            host=settings.host, port=settings.port, apiBase=settings.api_base,
            timeout=settings.read_timeout_s, version=version,
        )
    except BaseException as exc:
        for conn in created:  # pyarcrest leaves the probe connection open on failure
            conn.close()
        if isinstance(exc, ARCError) and not isinstance(exc, ARCHTTPError):
            raise APIVersionError(str(exc), endpoint=settings.endpoint) from exc
        raise
    assert isinstance(client, Rest10 | Rest11)
    _log.debug("using ARC REST API %s at %s", client.VERSION, settings.endpoint)
    return client
