"""The incremental body decoder agrees with ``loads_exact`` on every body, however it is chunked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aispend.money import loads_exact
from aispend.providers import jsonstream
from aispend.providers.jsonstream import StreamedObject, read_object

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),  # includes multi-byte characters, split across chunks below
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
pages = st.dictionaries(st.sampled_from(["data", "has_more", "next_page", "x"]), values, max_size=4)


def dumps(value: Any) -> str:
    """JSON text with Decimals written as raw numbers (always with a fraction or exponent)."""
    if isinstance(value, Decimal):
        text = str(value)
        return text if any(c in text for c in ".eE") else text + ".0"
    if isinstance(value, list):
        return "[" + ", ".join(dumps(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)} :{dumps(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def chunked(body: bytes, sizes: list[int]) -> Iterator[bytes]:
    start, turn = 0, 0
    while start < len(body):
        size = sizes[turn % len(sizes)]
        yield body[start : start + size]
        start, turn = start + size, turn + 1


def read(body: bytes, sizes: list[int]) -> StreamedObject[tuple[int, Any]]:
    return read_object(chunked(body, sizes), "data", lambda value, index: [(index, value)])


@pytest.fixture(autouse=True)
def tiny_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small pieces and read-ahead, so values straddle buffer refills everywhere."""
    monkeypatch.setattr(jsonstream, "_PIECE", 7)
    monkeypatch.setattr(jsonstream, "_MIN_AHEAD", 5)


@given(st.one_of(pages, values), st.lists(st.integers(1, 9), min_size=1, max_size=5))
def test_same_result_as_loads_exact_for_any_chunking(doc: Any, sizes: list[int]) -> None:
    body = dumps(doc).encode()
    expected = loads_exact(body)
    result = read(body, sizes)
    if isinstance(expected, dict) and isinstance(expected.get("data"), list):
        assert result.items is not None
        assert [index for index, _ in result.items] == list(range(len(expected["data"])))
        assert [value for _, value in result.items] == expected.pop("data")
        assert result.rest == expected
    else:  # not an object, or no data array: handed back whole for the caller's shape check
        assert result.items is None
        assert result.rest == expected


@given(pages, st.data())
def test_every_cut_off_body_is_refused(doc: dict[str, Any], data: st.DataObject) -> None:
    body = dumps(doc).encode()
    cut = data.draw(st.integers(0, len(body) - 1))
    with pytest.raises(ValueError):
        read(body[:cut], [data.draw(st.integers(1, 9))])


@given(pages, st.data())
def test_accepts_and_refuses_exactly_what_loads_exact_does(doc: dict[str, Any], data: st.DataObject) -> None:
    """One character replaced anywhere: both decoders agree on validity and on the value."""
    body = bytearray(dumps(doc).encode())
    body[data.draw(st.integers(0, len(body) - 1))] = ord(data.draw(st.sampled_from('{}[],:" 1.e-+tn\\')))
    try:
        expected = loads_exact(bytes(body))
    except ValueError:
        with pytest.raises(ValueError):
            read(bytes(body), [3])
        return
    try:
        result = read(bytes(body), [3])
    except ValueError as exc:
        # The one deliberate difference: a second "data" member is refused, not last-wins.
        assert "Duplicate 'data'" in str(exc) and isinstance(expected, dict)
        return
    if result.items is None:
        assert result.rest == expected
    else:
        assert [value for _, value in result.items] == expected["data"]


def test_money_stays_exact_and_numbers_split_at_any_point_are_whole() -> None:
    body = b'{"data": [0.00032195744715549047, 12345, 1.5e-7, -0.0], "has_more": false}'
    for size in range(1, len(body) + 1):
        result = read(body, [size])
        assert result.items is not None
        values = [value for _, value in result.items]
        assert values == [Decimal("0.00032195744715549047"), 12345, Decimal("1.5e-7"), Decimal("-0.0")]
        assert all(isinstance(v, Decimal) for v in values[::2])
        assert result.rest == {"has_more": False}


def test_a_second_data_array_is_refused() -> None:
    with pytest.raises(ValueError, match="Duplicate 'data'"):
        read(b'{"data": [1], "has_more": false, "data": [2]}', [4])


def test_members_before_and_after_the_array_and_a_bom() -> None:
    body = '\ufeff{"has_more": true, "data": [{"a": "é"}], "next_page": "p2"}'.encode()
    result = read(body, [1])
    assert result.items == [(0, {"a": "é"})]
    assert result.rest == {"has_more": True, "next_page": "p2"}


@pytest.mark.parametrize(
    "body", [b"", b"   ", b'{"data": [1, 2]', b'{"data": [1, 2]} x', b'{"data": [1,]}', b"\xff{}"]
)
def test_invalid_bodies_raise_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        read(body, [2])


def test_convert_errors_propagate_unchanged() -> None:
    class Refused(Exception):
        pass

    def refuse(value: Any, index: int) -> list[Any]:
        raise Refused(index)

    with pytest.raises(Refused):
        read_object(iter([b'{"data": [1]}']), "data", refuse)


def test_a_number_beyond_decimals_range_is_refused_as_malformed() -> None:
    with pytest.raises(ValueError, match="number out of range"):
        read(b'{"data": [{"amount": 10e0999999999999999999}]}', [3])
