"""A minimal DER reader and writer, enough for RFC 5755 attribute certificates and VOMS extensions.

Only definite lengths (DER) are accepted; every decoder checks that a value fills its enclosing element.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "BIT_STRING", "BOOLEAN", "ENUMERATED", "GENERALIZED_TIME", "IA5_STRING", "INTEGER", "NULL", "OCTET_STRING",
    "OID", "SEQUENCE", "SET", "UTC_TIME", "DERError", "Element", "context", "encode", "encode_int", "encode_oid",
    "parse", "parse_all", "parse_oid",
]

BOOLEAN: Final = 0x01
INTEGER: Final = 0x02
BIT_STRING: Final = 0x03
OCTET_STRING: Final = 0x04
NULL: Final = 0x05
OID: Final = 0x06
ENUMERATED: Final = 0x0A
IA5_STRING: Final = 0x16
UTC_TIME: Final = 0x17
GENERALIZED_TIME: Final = 0x18
SEQUENCE: Final = 0x30
SET: Final = 0x31


class DERError(ValueError):
    """The bytes are not the DER structure expected (the message says where)."""


@dataclass(frozen=True, slots=True)
class Element:
    """One DER element: its tag byte, its content and its complete encoding.

    Attributes:
        tag: The identifier octet (single-byte tags only).
        value: The content octets.
        raw: The whole element (tag, length, content), e.g. what a signature covers.
    """

    tag: int
    value: bytes
    raw: bytes

    @property
    def constructed(self) -> bool:
        """Whether the element holds further elements."""
        return bool(self.tag & 0x20)

    def children(self) -> list[Element]:
        """Parse the content as a sequence of elements."""
        return parse_all(self.value)

    def expect(self, tag: int, what: str) -> Element:
        """Return ``self`` if its tag is ``tag``.

        Raises:
            DERError: Another tag.
        """
        if self.tag != tag:
            raise DERError(f"{what}: expected tag 0x{tag:02x}, found 0x{self.tag:02x}")
        return self

    def integer(self) -> int:
        """The value of an INTEGER."""
        self.expect(INTEGER, "INTEGER")
        if not self.value:
            raise DERError("empty INTEGER")
        return int.from_bytes(self.value, "big", signed=True)


def _read(data: bytes, pos: int) -> tuple[Element, int]:
    if pos + 2 > len(data):
        raise DERError("truncated element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DERError("multi-byte tags are not supported")
    length = data[pos + 1]
    at = pos + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise DERError("indefinite or oversized length")
        if at + count > len(data):
            raise DERError("truncated length")
        length = int.from_bytes(data[at:at + count], "big")
        at += count
    end = at + length
    if end > len(data):
        raise DERError("element runs past the end of the data")
    return Element(tag, data[at:end], data[pos:end]), end


def parse(data: bytes) -> Element:
    """Parse exactly one element filling ``data``.

    Raises:
        DERError: Malformed, or trailing bytes.
    """
    element, end = _read(data, 0)
    if end != len(data):
        raise DERError(f"{len(data) - end} trailing bytes after the element")
    return element


def parse_all(data: bytes) -> list[Element]:
    """Parse consecutive elements filling ``data``."""
    out, pos = [], 0
    while pos < len(data):
        element, pos = _read(data, pos)
        out.append(element)
    return out


def parse_oid(element: Element) -> str:
    """The dotted form of an OBJECT IDENTIFIER."""
    element.expect(OID, "OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for byte in element.value:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise DERError("empty OBJECT IDENTIFIER")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode(tag: int, *parts: bytes) -> bytes:
    """Encode one element whose content is the concatenation of ``parts``."""
    content = b"".join(parts)
    return bytes([tag]) + _length(len(content)) + content


def context(number: int, *parts: bytes, constructed: bool = True) -> bytes:
    """Encode a context-specific ``[number]`` element."""
    return encode(0x80 | (0x20 if constructed else 0) | number, *parts)


def encode_int(value: int) -> bytes:
    """Encode an INTEGER."""
    size = max(1, (value.bit_length() + 8) // 8)
    return encode(INTEGER, value.to_bytes(size, "big", signed=True))


def encode_oid(dotted: str) -> bytes:
    """Encode an OBJECT IDENTIFIER from its dotted form."""
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return encode(OID, bytes(body))
