"""arc_intercede: an async interCEde backend for ARC 7 Computing Elements over the ARC REST API.

Importing this package does no I/O and touches no credentials::

    from arc_intercede import ARCBackend, ARCConfig, SubmissionSpec

    async with ARCBackend(ARCConfig.from_file("ce.yaml")) as ce:
        submission = await ce.submit(SubmissionSpec(executable="/bin/hostname"))

Scripts use :mod:`arc_intercede.sync` (the same backend, synchronous) or :func:`getClient`
(pyarcrest's API on the verified client).
"""

from __future__ import annotations

from arc_intercede.backend import ARCBackend, CredentialRequirements
from arc_intercede.compat import getClient
from arc_intercede.config import ARCConfig, AuthMode, CRLPolicy, HoldPolicy, Limits
from arc_intercede.contract import (
    Diagnostics,
    FileRef,
    InterCEdeError,
    JobCounts,
    JobID,
    JobOutput,
    JobStatus,
    OpOutcome,
    OutputSpec,
    Resources,
    Submission,
    SubmissionSpec,
)
from arc_intercede.errors import (
    APIVersionError,
    ARCBackendError,
    CEResponseError,
    CETimeoutError,
    ConfigurationError,
    CredentialError,
    LocalCredentialError,
    TransportError,
)
from arc_intercede.transfer import TransferProgress

__version__ = "0.1.0"

__all__ = [  # noqa: RUF022 - sorted case-insensitively (tests/unit/test_public_api.py)
    "APIVersionError",
    "ARCBackend",
    "ARCBackendError",
    "ARCConfig",
    "AuthMode",
    "CEResponseError",
    "CETimeoutError",
    "ConfigurationError",
    "CredentialError",
    "CredentialRequirements",
    "CRLPolicy",
    "Diagnostics",
    "FileRef",
    "getClient",
    "HoldPolicy",
    "InterCEdeError",
    "JobCounts",
    "JobID",
    "JobOutput",
    "JobStatus",
    "Limits",
    "LocalCredentialError",
    "OpOutcome",
    "OutputSpec",
    "Resources",
    "Submission",
    "SubmissionSpec",
    "TransferProgress",
    "TransportError",
]
