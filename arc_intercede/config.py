"""Backend configuration: one frozen, validated value object per CE endpoint. No I/O.

A configuration can be built in code, from a mapping, or from a YAML file whose keys are the
field names below (relative paths in a file are relative to the file's directory)::

    endpoint: https://ce.example.org:443/arex
    queue: grid
    ca_dir: /etc/grid-security/certificates
    token_file: /run/user/1000/bt_u1000      # token auth, and/or
    proxy: /tmp/x509up_u1000                 # proxy auth (both: token auth + delegated proxy)
    limits: {max_total_bytes: 10737418240, max_files: 10000, transfer_timeout_s: 3600}
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import yaml

from arc_intercede.errors import ConfigurationError
from arc_intercede.pool import DEFAULT_SHARED_CONNECTIONS, DEFAULT_SHARED_THREADS

__all__ = ["DEFAULT_SCOPES", "ARCConfig", "AuthMode", "CRLPolicy", "HoldPolicy", "Limits", "describe", "load_yaml"]

DEFAULT_SCOPES: Final[tuple[str, ...]] = (
    "compute.create",
    "compute.read",
    "compute.modify",
    "compute.cancel",
)
"""WLCG scopes a token needs for every operation of this backend."""

SUPPORTED_API_VERSIONS: Final[tuple[str, ...]] = ("1.0", "1.1")


class HoldPolicy(enum.Enum):
    """What :meth:`ARCBackend.status` does with jobs the batch system holds."""

    REPORT = "report"
    """Report them as ``HELD`` and leave them alone (default)."""
    KILL = "kill"
    """Report them as ``HELD`` and ask the CE to kill those held longer than ``hold_grace_s``."""


class CRLPolicy(enum.Enum):
    """How the CRLs of the CA directory (``<hash>.r0`` ... ``<hash>.rN``) are used to verify the CE."""

    IF_PRESENT = "if-present"
    """Default, like ARC's client: refuse a CE certificate its issuer's CRL lists (or whose issuer's
    CRL is expired or badly signed); accept one whose issuer has no CRL."""
    REQUIRE = "require"
    """Also refuse a CE certificate whose issuer has no CRL."""
    OFF = "off"
    """Ignore CRLs."""


class AuthMode(enum.Enum):
    """How the backend authenticates (derived from which credentials are configured)."""

    TOKEN = "token"  # noqa: S105 - a mode name, not a secret
    """Bearer token only; jobs get no delegated proxy."""
    PROXY = "proxy"
    """Proxy as the TLS client certificate, and delegated to the jobs."""
    TOKEN_WITH_PROXY = "token+proxy"  # noqa: S105 - a mode name, not a secret
    """Bearer token for authentication, plus a delegated proxy for the jobs (AlwaysIncludeProxy)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Ceilings for materialising one job's outputs (the contract's ``fetch_output``), enforced mid-stream.

    Attributes:
        max_total_bytes: Bytes written per job (default 10 GiB), an integer.
        max_files: Files written per job (default 10 000), an integer.
        transfer_timeout_s: Wall-clock seconds for one job's whole fetch (default 3600).
    """

    max_total_bytes: int = 10 * 1024**3
    max_files: int = 10_000
    transfer_timeout_s: float = 3600.0

    def __post_init__(self) -> None:
        for name in ("max_total_bytes", "max_files"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigurationError(f"limits.{name} must be an integer, got {describe(value)}")
        _positive("limits.max_total_bytes", self.max_total_bytes)
        _positive("limits.max_files", self.max_files)
        _positive("limits.transfer_timeout_s", self.transfer_timeout_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class ARCConfig:
    """Everything the backend needs to talk to one ARC CE.

    Attributes:
        endpoint: A-REX URL, ``https://host[:port]/arex`` (port default 443).
        queue: Default queue for submissions (a spec's own queue wins).
        ca_dir: Hashed CA directory used to verify the CE (grid style).
        ca_file: CA bundle used to verify the CE (alternative or addition to ``ca_dir``).
        crl_policy: How CRLs in the CA directory are used (see :class:`CRLPolicy`).
        token: A bearer token (never shown in ``repr``).
        token_file: A file holding the bearer token, re-read when it changes.
        proxy: RFC 3820 proxy file. Alone: TLS client certificate and delegated to jobs. With a
            token: only delegated to jobs (AlwaysIncludeProxy parity).
        audience: Token audience the CE expects; default ``https://host:port``.
        scopes: Token scopes the backend needs; default all four WLCG ``compute.*`` scopes.
        api_version: Pin a REST API version (``"1.0"``/``"1.1"``); default: highest in common.
        connect_timeout_s: TCP+TLS connect deadline per request.
        read_timeout_s: Deadline for each read from the CE.
        request_timeout_s: Wall-clock deadline for one request and its whole reply, which a CE
            that trickles cannot stretch (streamed session files are bounded by
            ``limits.transfer_timeout_s`` instead; an upload's clock starts once its body is sent).
        max_connections: Parallel connections (and calls in flight) to this CE.
        chunk_size: Job ids per bulk request (A-REX reads at most ~1 MiB of ids).
        delegation_renew_margin_s: Renew the delegation when the proxy it holds has less left.
        delegation_refresh_s: How often the backend looks, without any submission, for a fresher proxy
            (longer-lived, not attribute-poorer) to renew its delegation with; 0: only at submissions.
        hold_policy: What to do with held jobs (see :class:`HoldPolicy`).
        hold_grace_s: With ``HoldPolicy.KILL``: how long a job may stay held before it is killed.
        limits: Output materialisation ceilings.
        transfer_concurrency: Jobs fetched at once by ``fetch_output``.
        shared_threads: Process-wide cap on worker threads shared by all backends (the largest
            value among the backends opened in the process applies).
        shared_connections: Process-wide budget of connections beyond each backend's first
            (the largest value among the backends opened applies).
        upload_retry_s: How long ``submit`` keeps retrying the input uploads of copies it created
            through transient CE errors (a CE restart) before it cancels them; 0: no retry.
    """

    endpoint: str
    queue: str | None = None
    ca_dir: Path | None = None
    ca_file: Path | None = None
    crl_policy: CRLPolicy = CRLPolicy.IF_PRESENT
    token: str | None = field(default=None, repr=False)
    token_file: Path | None = None
    proxy: Path | None = None
    audience: str | None = None
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    api_version: str | None = None
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    request_timeout_s: float = 300.0
    max_connections: int = 4
    chunk_size: int = 1000
    delegation_renew_margin_s: float = 3 * 3600.0
    delegation_refresh_s: float = 300.0
    hold_policy: HoldPolicy = HoldPolicy.REPORT
    hold_grace_s: float = 3600.0
    limits: Limits = field(default_factory=Limits)
    transfer_concurrency: int = 4
    upload_retry_s: float = 60.0
    shared_threads: int = DEFAULT_SHARED_THREADS
    shared_connections: int = DEFAULT_SHARED_CONNECTIONS

    def __post_init__(self) -> None:
        if not isinstance(self.endpoint, str):
            raise ConfigurationError(f"endpoint must be a string, got {describe(self.endpoint)}")
        parts = urlsplit(self.endpoint)
        if "@" in parts.netloc:
            # user:password@host (or the host:443@evil trick): never echo it, it may hold a password
            raise ConfigurationError("endpoint must not contain user information ('user:password@'): "
                                     "credentials go in token, token_file or proxy")
        if parts.scheme != "https":
            raise ConfigurationError(f"endpoint must be an https:// URL, got {describe(self.endpoint)}")
        if not parts.hostname:
            raise ConfigurationError(f"endpoint has no host name: {describe(self.endpoint)}")
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigurationError(f"endpoint has a bad port: {describe(self.endpoint)}") from exc
        if port == 0 or (port is None and parts.netloc.endswith(":")):
            raise ConfigurationError(f"endpoint port must be 1-65535: {describe(self.endpoint)}")
        if parts.query or parts.fragment:
            raise ConfigurationError(f"endpoint must not have a query or fragment: {describe(self.endpoint)}")
        if self.ca_dir is None and self.ca_file is None:
            raise ConfigurationError("set ca_dir or ca_file: the CE is always verified")
        if self.token is not None and self.token_file is not None:
            raise ConfigurationError("set token or token_file, not both")
        if self.token is not None and not self.token.strip():
            raise ConfigurationError("token is empty")
        if self.token is not None and not all("\x21" <= c <= "\x7e" for c in self.token):
            # never quote it: http.client would, with the whole Authorization header
            raise ConfigurationError("token holds a line break, space, control or non-ASCII character: "
                                     "a bearer token is one line of visible ASCII characters")
        if self.token is None and self.token_file is None and self.proxy is None:
            raise ConfigurationError("no credential: set token, token_file or proxy")
        if self.api_version is not None and self.api_version not in SUPPORTED_API_VERSIONS:
            raise ConfigurationError(
                f"api_version must be one of {', '.join(SUPPORTED_API_VERSIONS)}, got {describe(self.api_version)}"
            )
        for name in ("connect_timeout_s", "read_timeout_s", "request_timeout_s", "max_connections", "chunk_size",
                     "transfer_concurrency", "shared_threads"):
            _positive(name, getattr(self, name))
        if min(self.delegation_renew_margin_s, self.hold_grace_s, self.upload_retry_s, self.delegation_refresh_s) < 0:
            raise ConfigurationError(
                "delegation_renew_margin_s, hold_grace_s, upload_retry_s and delegation_refresh_s must not be negative"
            )
        if self.shared_connections < 0:
            raise ConfigurationError("shared_connections must not be negative")
        if self.chunk_size > 5000:
            raise ConfigurationError("chunk_size above 5000 risks A-REX's 1 MiB request cap")

    @property
    def host(self) -> str:
        """Host name of the CE."""
        return urlsplit(self.endpoint).hostname or ""

    @property
    def port(self) -> int:
        """TCP port of the CE."""
        return urlsplit(self.endpoint).port or 443

    @property
    def api_base(self) -> str:
        """Path of A-REX under the host, e.g. ``/arex``."""
        return urlsplit(self.endpoint).path.rstrip("/") or "/arex"

    @property
    def effective_audience(self) -> str:
        """The token audience: ``audience`` if set, else ``https://host:port``."""
        return self.audience or f"https://{self.host}:{self.port}"

    @property
    def auth_mode(self) -> AuthMode:
        """How the backend authenticates, derived from the configured credentials."""
        has_token = self.token is not None or self.token_file is not None
        if has_token and self.proxy is not None:
            return AuthMode.TOKEN_WITH_PROXY
        return AuthMode.TOKEN if has_token else AuthMode.PROXY

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, base_dir: Path | None = None) -> ARCConfig:
        """Build a configuration from plain data (e.g. parsed YAML).

        Args:
            data: Keys are field names; ``limits`` is a nested mapping; ``hold_policy`` a string.
            base_dir: Relative paths are resolved against it.

        Raises:
            ConfigurationError: Unknown keys, wrong types or invalid values, with the key named.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"configuration must be a mapping, got {type(data).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted((k for k in data if k not in known), key=str)
        if unknown:
            raise ConfigurationError(f"unknown configuration key(s): {_keys(unknown)}")
        if "endpoint" not in data:
            raise ConfigurationError("configuration key 'endpoint' is required")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if value is None:
                continue
            kwargs[key] = _convert(key, value, base_dir)
        try:
            return cls(**kwargs)
        except TypeError as exc:  # pragma: no cover - guarded by the conversions above
            raise ConfigurationError(str(exc)) from exc

    @classmethod
    def from_file(cls, path: Path | str) -> ARCConfig:
        """Load a configuration from a YAML file.

        Raises:
            ConfigurationError: The file cannot be read or parsed, or its content is invalid.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot read configuration {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigurationError(f"cannot read configuration {path}: not a UTF-8 text file") from exc
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{path} is not valid YAML: {yaml_reason(exc)}") from exc
        if isinstance(data, Mapping) and data.get("token") is not None:
            _warn_if_exposed(path)
        try:
            return cls.from_mapping(data or {}, base_dir=path.parent)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{path}: {exc}") from exc


def _warn_if_exposed(path: Path) -> None:
    from arc_intercede.credentials.files import warn_if_exposed  # credentials.tls imports this module

    warn_if_exposed(path, "configuration file with an inline token")


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate mapping keys (instead of silently keeping the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:  # the keys written here; merged (<<) keys may be overridden
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: the constructor reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {describe(key)}", key_node.start_mark
            )
    loader.flatten_mapping(node)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str) -> Any:
    """Parse YAML like ``yaml.safe_load``, but refuse duplicate keys in any mapping.

    Raises:
        yaml.YAMLError: The text is not YAML, or a mapping repeats a key.
    """
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def read_yaml_file(path: Path, what: str, error: Callable[[str], Exception]) -> Any:
    """Read and parse the YAML file ``path`` (a ``what``) with :func:`load_yaml`.

    Raises:
        Exception: ``error(message)``, with a one-line message naming the file, when it is missing,
            unreadable, not UTF-8 or not YAML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise error(f"{what} {path} not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a UTF-8 text file"
        raise error(f"cannot read {what} {path}: {reason}") from exc
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        raise error(f"{path} is not valid YAML: {yaml_reason(exc)}") from exc


def yaml_reason(exc: yaml.YAMLError) -> str:
    """One line saying what is wrong with a YAML text, and where."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(problem).split())


_EXCERPT: Final = 40


def _keys(keys: list[Any]) -> str:
    shown = ", ".join(k if isinstance(k, str) and len(k) <= _EXCERPT else describe(k) for k in keys[:10])
    return shown + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")


def describe(value: Any) -> str:
    """Show a user-supplied value in a message, bounded: a short excerpt of a scalar, else its type.

    Never formats a whole container (a YAML alias bomb would take minutes and gigabytes) nor a huge
    integer (Python refuses more than 4300 digits).
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 64:
            return f"an integer of {value.bit_length()} bits"
        return repr(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str | bytes):
        text = value[:_EXCERPT]
        shown = repr(text)
        return shown if len(value) <= _EXCERPT else f"{shown[:-1]}...{shown[-1]} ({len(value)} characters)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple | set | frozenset):
        return "a list"
    return f"a {type(value).__name__}"


_PATH_KEYS: Final = frozenset({"ca_dir", "ca_file", "token_file", "proxy"})
_FLOAT_KEYS: Final = frozenset(
    {"connect_timeout_s", "read_timeout_s", "request_timeout_s", "delegation_renew_margin_s", "hold_grace_s",
     "upload_retry_s", "delegation_refresh_s"}
)
_INT_KEYS: Final = frozenset(
    {"max_connections", "chunk_size", "transfer_concurrency", "shared_threads", "shared_connections"}
)
_STR_KEYS: Final = frozenset({"endpoint", "queue", "token", "audience", "api_version"})


def _convert(key: str, value: Any, base_dir: Path | None) -> Any:
    if key in _PATH_KEYS:
        if not isinstance(value, str | Path):
            raise ConfigurationError(f"{key} must be a path string")
        path = Path(value).expanduser()
        return (base_dir / path) if base_dir is not None and not path.is_absolute() else path
    if key == "crl_policy":
        try:
            return CRLPolicy(value)
        except (ValueError, TypeError) as exc:
            choices = ", ".join(p.value for p in CRLPolicy)
            raise ConfigurationError(f"crl_policy must be one of {choices}, got {describe(value)}") from exc
    if key in _STR_KEYS:
        if not isinstance(value, str):
            raise ConfigurationError(f"{key} must be a string, got {type(value).__name__}")
        return value
    if key in _INT_KEYS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigurationError(f"{key} must be an integer")
        return value
    if key in _FLOAT_KEYS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigurationError(f"{key} must be a number")
        return float(value)
    if key == "scopes":
        if isinstance(value, str):
            value = value.split()
        if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
            raise ConfigurationError("scopes must be a list of strings")
        return tuple(value)
    if key == "hold_policy":
        try:
            return HoldPolicy(value)
        except (ValueError, TypeError) as exc:
            choices = ", ".join(p.value for p in HoldPolicy)
            raise ConfigurationError(f"hold_policy must be one of {choices}, got {describe(value)}") from exc
    if key == "limits":
        if not isinstance(value, Mapping):
            raise ConfigurationError("limits must be a mapping")
        names = {f.name for f in dataclasses.fields(Limits)}
        unknown = sorted((k for k in value if k not in names), key=str)
        if unknown:
            raise ConfigurationError(f"unknown limits key(s): {_keys(unknown)}")
        for name, item in value.items():
            if name in ("max_total_bytes", "max_files") and (isinstance(item, bool) or not isinstance(item, int)):
                raise ConfigurationError(f"limits.{name} must be an integer, got {describe(item)}")
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise ConfigurationError(f"limits.{name} must be a number")
        return Limits(**value)
    raise ConfigurationError(f"unsupported configuration key {describe(key)}")  # pragma: no cover


def _positive(name: str, value: float) -> None:
    try:
        ok = value > 0 and math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        ok = False
    if not ok:
        raise ConfigurationError(f"{name} must be a positive number, got {describe(value)}")
