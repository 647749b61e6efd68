"""Shared helpers for the contract suite (async bodies are driven with asyncio.run)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from arc_intercede import ARCBackend, ARCConfig, JobStatus, SubmissionSpec
from arc_intercede.contract import OutputSpec

JOB_TIMEOUT_S = 240.0


def backend_config(path: Path, **overrides: Any) -> ARCConfig:
    """Load the stack's client config, with field overrides."""
    import dataclasses

    return dataclasses.replace(ARCConfig.from_file(path), **overrides)


async def wait_status(
    ce: ARCBackend, ids: Collection[str], accept: Callable[[JobStatus], bool], within: float = JOB_TIMEOUT_S,
    poll_s: float = 2.0,
) -> Mapping[str, JobStatus]:
    """Poll every ``poll_s`` until every id's status satisfies ``accept``; fail with the last states and CE errors."""
    deadline = time.monotonic() + within
    states: Mapping[str, JobStatus] = {}
    while time.monotonic() < deadline:
        states = await ce.status(list(ids))
        if all(accept(states[i]) for i in ids):
            return states
        await asyncio.sleep(poll_s)
    diags = await ce.diagnostics(list(ids))
    errors = {i: d.files.get("errors", "")[-2000:] for i, d in diags.items()}
    raise AssertionError(f"timed out waiting; last states {states}; CE errors: {errors}")


async def wait_terminal(
    ce: ARCBackend, ids: Collection[str], within: float = JOB_TIMEOUT_S, poll_s: float = 2.0
) -> Mapping[str, JobStatus]:
    """Poll until every id is terminal."""
    return await wait_status(ce, ids, lambda s: s.is_terminal, within, poll_s)


def shell_job(script: str, *, outputs: tuple[str, ...] = (), **kwargs: Any) -> SubmissionSpec:
    """A job that runs ``/bin/sh -c script`` and keeps stdout, stderr and ``outputs``."""
    return SubmissionSpec(
        executable="/bin/sh",
        arguments=("-c", script),
        output_sandbox=OutputSpec(stdout="stdout.txt", stderr="stderr.txt", files=outputs),
        **kwargs,
    )
