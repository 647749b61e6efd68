"""Streaming parser for a session-directory listing that keeps at most ``max_entries`` names."""

from __future__ import annotations

import codecs
import json
import re
from typing import Any, Final

# Private aliases: nothing public here may hand out pyarcrest's own (unverified) classes.
from arc_intercede._rest.transport import MAX_NAME_TOKEN


class _MalformedListingError(ValueError):
    pass


_WS: Final = re.compile(r"[ \t\r\n]*")
_STRING: Final = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"', re.S)
_SCALAR: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")


class _ListingParser:
    """Incremental JSON parser for a session listing, ``{"file": [...], "dir": [...]}``.

    Only the names under the top-level ``file`` and ``dir`` keys are kept (a list, or a bare string
    as ARC 6 sends a single entry), at most ``max_entries`` of each; any other value is checked
    and skipped. Memory is the names kept plus one token, whatever the listing's size.
    """

    def __init__(self, max_entries: int | None) -> None:
        self.max = max_entries
        self.files: list[str] = []
        self.dirs: list[str] = []
        self.full = False
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._stack: list[list[Any]] = []  # [kind "{"/"[", state, key]
        self._root = "value"  # then "done"

    def feed(self, data: bytes, final: bool = False) -> None:
        try:
            self._buf += self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise _MalformedListingError(f"not UTF-8: {exc}") from exc
        pos, buf = 0, self._buf
        while not self.full:
            pos = _WS.match(buf, pos).end()  # type: ignore[union-attr]
            if pos >= len(buf):
                break
            c = buf[pos]
            if c == '"':
                m = _STRING.match(buf, pos)
                if m is None:
                    if len(buf) - pos > MAX_NAME_TOKEN or final:
                        raise _MalformedListingError("unterminated or overlong string")
                    break
                try:
                    text = json.loads(m.group())
                except ValueError as exc:
                    raise _MalformedListingError(str(exc)) from exc
                pos = m.end()
                self._string(text)
            elif c in "{[":
                self._value(c)
                self._stack.append([c, "key_or_end" if c == "{" else "value_or_end", None])
                pos += 1
            elif c in "}]":
                top = self._stack[-1] if self._stack else None
                want = "{" if c == "}" else "["
                if top is None or top[0] != want or top[1] not in ("key_or_end", "value_or_end", "comma_or_end"):
                    raise _MalformedListingError(f"unexpected {c!r}")
                self._stack.pop()
                self._after_value()
                pos += 1
            elif c == ":":
                top = self._stack[-1] if self._stack else None
                if top is None or top[1] != "colon":
                    raise _MalformedListingError("unexpected ':'")
                top[1] = "value"
                pos += 1
            elif c == ",":
                top = self._stack[-1] if self._stack else None
                if top is None or top[1] != "comma_or_end":
                    raise _MalformedListingError("unexpected ','")
                top[1] = "key" if top[0] == "{" else "value"
                pos += 1
            else:
                m = _SCALAR.match(buf, pos)
                if m is None or (m.end() == len(buf) and not final):
                    if m is None and len(buf) - pos >= 6:
                        raise _MalformedListingError(f"unexpected {buf[pos:pos + 10]!r}")
                    if final:
                        raise _MalformedListingError("truncated value")
                    break
                self._value()
                self._after_value()
                pos = m.end()
        self._buf = buf[pos:]

    def end(self) -> None:
        """The body is complete: check that it was one whole object (or empty)."""
        self.feed(b"", final=True)
        if self._stack or self._buf.strip():
            raise _MalformedListingError("incomplete listing")

    def _value(self, opening: str = "") -> None:
        """A value starts: check that one may come here (the root must be an object)."""
        if not self._stack:
            if self._root != "value":
                raise _MalformedListingError("data after the listing")
            if opening != "{":
                raise _MalformedListingError("the listing is not an object")
            return
        top = self._stack[-1]
        if (top[0] == "{" and top[1] != "value") or (top[0] == "[" and top[1] not in ("value", "value_or_end")):
            raise _MalformedListingError("a value where none may be")

    def _after_value(self) -> None:
        if not self._stack:
            self._root = "done"
        else:
            self._stack[-1][1] = "comma_or_end"

    def _string(self, text: str) -> None:
        top = self._stack[-1] if self._stack else None
        if top is not None and top[0] == "{" and top[1] in ("key_or_end", "key"):
            top[1], top[2] = "colon", text
            return
        if not self._stack:
            raise _MalformedListingError("the listing is not an object")
        self._value()
        key = None
        if len(self._stack) == 1:
            key = self._stack[0][2]
        elif len(self._stack) == 2 and self._stack[1][0] == "[":
            key = self._stack[0][2]
        if key in ("file", "dir"):
            names = self.files if key == "file" else self.dirs
            if self.max is not None and len(names) >= self.max:
                self.full = True
                return
            names.append(text)
        self._after_value()
