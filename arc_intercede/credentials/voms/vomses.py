"""The ``vomses`` files: which VOMS server serves which VO.

One line per server, ``"alias" "host" "port" "server DN" "vo" ["globus version"]``, read from
``$VOMS_USERCONF``, ``~/.voms/vomses``, ``~/.glite/vomses``, ``/etc/vomses`` and
``/etc/grid-security/vomses`` (each a file or a directory of files), first found first.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from arc_intercede.credentials.voms.errors import NO_SERVER, VomsError

__all__ = ["VomsServer", "default_vomses_paths", "find_servers", "load_vomses", "parse_vomses_line"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VomsServer:
    """One vomses entry.

    Attributes:
        alias: The nickname users may give instead of the VO name.
        host: The server's host name.
        port: The server's port.
        dn: The server certificate's subject (oneline form).
        vo: The VO's name.
        source: The file the entry came from.
    """

    alias: str
    host: str
    port: int
    dn: str
    vo: str
    source: str = ""

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"


def parse_vomses_line(line: str, source: str = "") -> VomsServer | None:
    """Parse one vomses line; None for blank or comment lines.

    Raises:
        ValueError: Fewer than 5 fields, or a bad port.
    """
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    fields = shlex.split(text)
    if len(fields) < 5:
        raise ValueError(f"expected 5 quoted fields (alias host port DN vo), found {len(fields)}")
    alias, host, port, dn, vo = fields[:5]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad port {port!r}")
    return VomsServer(alias=alias, host=host, port=int(port), dn=dn, vo=vo, source=source)


def default_vomses_paths() -> list[Path]:
    """The vomses locations, in search order."""
    paths = []
    env = os.environ.get("VOMS_USERCONF")
    if env:
        paths.append(Path(env).expanduser())
    home = Path("~").expanduser()
    paths += [home / ".voms" / "vomses", home / ".glite" / "vomses", Path("/etc/vomses"),
              Path("/etc/grid-security/vomses")]
    return paths


def load_vomses(paths: Iterable[Path] | None = None) -> list[VomsServer]:
    """Every entry of every vomses file found, in search order (bad lines are skipped with a warning)."""
    servers: list[VomsServer] = []
    for path in default_vomses_paths() if paths is None else paths:
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path] if path.is_file() else []
        for file in files:
            try:
                lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError as exc:
                _log.warning("cannot read vomses file %s: %s", file, exc.strerror)
                continue
            for number, line in enumerate(lines, 1):
                try:
                    entry = parse_vomses_line(line, str(file))
                except ValueError as exc:
                    _log.warning("%s:%d: ignored: %s", file, number, exc)
                    continue
                if entry is not None:
                    servers.append(entry)
    return servers


def find_servers(vo: str, servers: Iterable[VomsServer] | None = None) -> list[VomsServer]:
    """The servers of ``vo`` (matched by VO name or alias), in vomses order.

    Raises:
        VomsError: None is known (kind ``no-server``).
    """
    known = list(load_vomses() if servers is None else servers)
    found = [s for s in known if s.vo == vo or s.alias == vo]
    if not found:
        where = ", ".join(str(p) for p in default_vomses_paths())
        raise VomsError(f"no VOMS server known for VO {vo!r} (looked in vomses: {where}; set $VOMS_USERCONF)",
                        kind=NO_SERVER, vo=vo)
    return found
