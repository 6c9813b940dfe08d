"""Decode a JSON object body incrementally, handing the elements of one large array out one by one.

OpenAI's 60-day costs backfill is a single page of ~80 MB. Decoded whole, the body, its dict tree
and the records made from it are all alive at once (hundreds of MB). Here the body is decoded
from a stream of byte chunks: the top-level object's members are walked by hand, and every
element of the named array member (``data``) is decoded on its own with the standard library's
C scanner and given to a callback, so only one element's text and tree exist at a time.

Decoding is :func:`aispend.money.loads_exact`'s: the same :class:`json.JSONDecoder` with
``parse_float=Decimal``, so every non-integer number is a ``Decimal`` built from the wire text and
every body ``loads_exact`` refuses is refused here too (with a ``ValueError``), including a body
cut off anywhere. Members other than the array are decoded whole and returned as they are; a body
that is not an object, or whose array member is not an array, is returned decoded and untouched
so the caller's shape validation reports it exactly as it would for a non-streamed body.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aispend.money import json_decimal

T = TypeVar("T")

_DECODER = json.JSONDecoder(parse_float=json_decimal)
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's four, exactly as the json module skips them
# Bytes handed to the UTF-8 decoder at a time: a transport (or MockTransport) may deliver the
# whole body as one chunk, and decoding that at once would hold all of its text.
_PIECE = 1 << 16
_MIN_AHEAD = 1 << 18
_NUMBER_TAIL = 2


@dataclass(frozen=True, slots=True)
class StreamedObject(Generic[T]):
    """The result of :func:`read_object`.

    ``items`` holds what the callback returned for every element of the array member, in order,
    or is None when the body is not an object or the member is absent or not an array; ``rest``
    is then the whole decoded body, otherwise the object's other members.
    """

    items: list[T] | None
    rest: Any
    bytes_read: int


def read_object(
    chunks: Iterable[bytes], member: str, convert: Callable[[Any, int], Iterable[T]]
) -> StreamedObject[T]:
    """Decode a JSON body from ``chunks``, passing each element of ``member`` to ``convert``.

    ``convert(element, index)`` returns the items that element stands for (it may raise to
    reject the element); elements are freed as soon as it returns. Raises ``ValueError``
    (``json.JSONDecodeError`` or ``UnicodeDecodeError``) when the bytes are not one complete JSON
    value, so a truncated body never yields a partial result.
    """
    text = _Text(chunks)
    if text.peek() != "{":
        whole = text.value()
        text.end()
        return StreamedObject(None, whole, text.bytes_read)
    text.advance()
    rest: dict[str, Any] = {}
    items: list[T] | None = None
    if text.peek() == "}":
        text.advance()
    else:
        while True:
            key = text.key()
            if key == member and text.peek() == "[":
                if items is not None or member in rest:
                    raise text.error(f"Duplicate {member!r} member")
                items = _array(text, convert)
            else:
                if key == member and items is not None:
                    raise text.error(f"Duplicate {member!r} member")
                rest[key] = text.value()
            if text.separator("}"):
                break
    text.end()
    return StreamedObject(items, rest, text.bytes_read)


def _array(text: _Text, convert: Callable[[Any, int], Iterable[T]]) -> list[T]:
    text.advance()  # the "["
    items: list[T] = []
    if text.peek() == "]":
        text.advance()
        return items
    index = 0
    while True:
        items.extend(convert(text.value(), index))
        index += 1
        if text.separator("]"):
            return items


class _Text:
    """The decoded text of a body read so far, with a cursor; consumed text is dropped."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._pieces = _pieces(chunks)
        # utf-8-sig: like json.loads on bytes, a leading byte-order mark is tolerated.
        self._utf8 = codecs.getincrementaldecoder("utf-8-sig")()
        self._text = ""
        self._pos = 0
        self._dropped = 0  # characters discarded before self._text, for error positions
        self._done = False
        self._ahead = _MIN_AHEAD  # how much text to have buffered before decoding a value
        self.bytes_read = 0

    # -- buffer ----------------------------------------------------------------------------

    def _fill(self, want: int) -> bool:
        """Buffer at least ``want`` characters past the cursor, or all that is left.

        Returns False when nothing could be added (end of body).
        """
        if self._done:
            return False
        parts = [self._text[self._pos :]]
        have = len(parts[0])
        while have < want:
            piece = next(self._pieces, None)
            if piece is None:
                parts.append(self._utf8.decode(b"", final=True))
                self._done = True
                break
            self.bytes_read += len(piece)
            part = self._utf8.decode(piece)
            parts.append(part)
            have += len(part)
        self._dropped += self._pos
        self._text = "".join(parts)
        self._pos = 0
        return True

    def peek(self) -> str:
        """The next non-whitespace character ("" at the end of the body), without consuming it."""
        while True:
            self._pos = _WHITESPACE.match(self._text, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._text):
                return self._text[self._pos]
            if not self._fill(_PIECE):
                return ""

    def advance(self) -> None:
        self._pos += 1

    # -- values ----------------------------------------------------------------------------

    def value(self) -> Any:
        """Decode the next JSON value, reading more of the body until it is complete."""
        self.peek()
        start = self._pos
        if len(self._text) - start < self._ahead:
            self._fill(self._ahead)
            start = self._pos
        while True:
            try:
                found, end = _DECODER.raw_decode(self._text, start)
            except json.JSONDecodeError as exc:
                # Either the value runs past what is buffered or it is invalid; only more text
                # (or its absence) tells which.
                if not self._fill(2 * (len(self._text) - start) + _PIECE):
                    raise self.error(exc.msg, exc.pos) from None
                start = self._pos
                continue
            # A number ending at, or up to two characters before, the end of the buffer may go on:
            # "12" of "123", or "1" of "1.5" / "1e+5" when the buffer ends at "1." / "1e+".
            if len(self._text) - end <= _NUMBER_TAIL and self._fill(len(self._text) - start + _PIECE):
                start = self._pos
                continue
            self._pos = end
            self._ahead = max(self._ahead, 2 * (end - start))
            return found

    def key(self) -> str:
        if self.peek() != '"':
            raise self.error("Expecting property name enclosed in double quotes")
        found = self.value()
        assert isinstance(found, str)
        if self.peek() != ":":
            raise self.error("Expecting ':' delimiter")
        self.advance()
        return found

    def separator(self, close: str) -> bool:
        """Consume "," (False: another element follows) or ``close`` (True: the container ended)."""
        char = self.peek()
        if char == ",":
            self.advance()
            return False
        if char == close:
            self.advance()
            return True
        raise self.error("Expecting ',' delimiter")

    def end(self) -> None:
        if self.peek() != "":
            raise self.error("Extra data")

    def error(self, message: str, pos: int | None = None) -> json.JSONDecodeError:
        """A JSONDecodeError positioned in characters from the start of the body.

        The document is not attached (it is not kept); line and column are therefore meaningless,
        and only ``msg`` and ``pos`` are used.
        """
        where = self._pos if pos is None else pos
        return json.JSONDecodeError(message, "", self._dropped + where)


def _pieces(chunks: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        if len(chunk) <= _PIECE:
            yield chunk
            continue
        view = memoryview(chunk)
        for start in range(0, len(chunk), _PIECE):
            yield view[start : start + _PIECE].tobytes()
