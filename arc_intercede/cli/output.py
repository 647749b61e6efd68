"""Printing: JSON, aligned tables, byte counts, job-state rows."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from arc_intercede.cli.base import Target
from arc_intercede.contract import JobStatus

_log = logging.getLogger(__name__)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _status_rows(states: Mapping[str, JobStatus], ids: Sequence[str], names: Mapping[str, str],
                 target: Target) -> list[dict[str, str]]:
    return [{"job_id": j, "state": states[j].value, "ce": names.get(j, target.name)} for j in ids]


def _print_states(rows: list[dict[str, str]], as_json: bool) -> None:
    if as_json:
        _print_json(rows)
    else:
        _table([(r["job_id"], r["state"], r["ce"]) for r in rows], ("ID", "STATE", "CE"))

