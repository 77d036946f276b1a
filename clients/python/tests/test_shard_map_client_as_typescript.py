"""The Python ShardMapClient reads a body as the TypeScript client (keyway/client) reads it: the same
bodies taken or refused, the same owners, readers and picks, the same order of versions. Each case
is one a differential run of both clients over the same /v1/shardmap and /readyz bodies found
apart; the expected values are the TypeScript client's (Date.parse, JSON.parse, JSON.stringify)."""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Dict, Iterator, List

import pytest

from keyway_client import KeywayError, Owner, ShardMapClient
from keyway_client import shard_map_client as smc
from test_shard_map_client_unit import json_reply, scripted  # noqa: F401 (fixture)

URL = "http://k/v1/shardmap"


def _map(endpoints: List[Dict[str, Any]], shards: List[Dict[str, Any]], **extra: Any) -> Dict[str, Any]:
    return {"version": "v1", "shardCount": len(shards), "endpoints": endpoints, "shards": shards, **extra}


def _ep(i: str, **kw: Any) -> Dict[str, Any]:
    return {"id": i, "address": "10.0.0.1", "port": 7000, "weight": 1, "ready": True, **kw}


def _served(scripted: Any, raw: bytes) -> ShardMapClient:
    """A client that fetched ``raw`` as the /v1/shardmap body (raises what refresh() raises)."""
    headers = {"Content-Type": "application/json", "Content-Length": str(len(raw))}
    server = scripted(lambda _path, _h: (200, headers, [raw]))
    client = ShardMapClient(server.url)
    try:
        client.refresh()
    finally:
        client.close()
    return client


def _not_json(scripted: Any, raw: bytes) -> None:
    with pytest.raises(KeywayError) as e:
        _served(scripted, raw)
    assert e.value.code == "KEYWAY_UNAVAILABLE" and e.value.message.endswith("answered 200 with a body that is not JSON: is it keyway's REST API?")


def _refused(body: Any) -> str:
    with pytest.raises(KeywayError) as e:
        smc._decode_shard_map(body, URL, None)
    assert e.value.code == "KEYWAY_UNAVAILABLE"
    return e.value.message.split("not a shard map: ", 1)[1]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_not_json(scripted: Any, literal: bytes) -> None:  # noqa: F811
    # Python's json takes them, JSON.parse does not: a map with one anywhere (here a field no client
    # reads) was taken by the Python client alone.
    body = json.dumps(_map([_ep("a")], [{"shard": 0, "owners": ["a"]}])).encode().replace(b'"version"', b'"x": ' + literal + b', "version"')
    _not_json(scripted, body)


def test_integer_literals_read_as_javascript_numbers(scripted: Any) -> None:  # noqa: F811
    # An integer past 4300 digits: int() refused the whole body; JSON.parse reads it (as Infinity).
    body = json.dumps(_map([_ep("a")], [{"shard": 0, "owners": ["a"]}])).encode().replace(b'"version"', b'"x": ' + b"1" * 5000 + b', "version"')
    assert _served(scripted, body).shard_count == 1
    # 2^53 + 1 is 2^53 to JSON.parse: no safe integer, so no shard count (it was counted as 2^53 + 1
    # shards and refused for the length of `shards`).
    with pytest.raises(KeywayError) as e:
        _served(scripted, b'{"version":"v","shardCount":9007199254740993,"endpoints":[],"shards":[]}')
    assert e.value.message.endswith("not a shard map: shardCount 9007199254740992")
    assert _refused(_map([], [{"shard": 0, "owners": []}], shardCount=2**53)) == "shardCount 9007199254740992"


def test_a_weight_too_large_to_scale_takes_the_largest_lb_weight() -> None:
    # 1e307 x 100 is infinite: math.floor raised OverflowError, so the map was refused. The
    # TypeScript client takes it with the largest load-balancing weight (MAX_LB_WEIGHT).
    body = _map([_ep("a", weight=1e307), _ep("b", port=7001, weight=1)], [{"shard": 0, "owners": ["a", "b"], "readers": 2}])
    held = smc._decode_shard_map(body, URL, None)
    assert held.picks[0].up_to == (smc._MAX_LB_WEIGHT, smc._MAX_LB_WEIGHT + 100)


def test_bytes_that_are_not_utf8_and_a_bom_read_as_textdecoder_reads_them(scripted: Any) -> None:  # noqa: F811
    raw = json.dumps(_map([_ep("aX")], [{"shard": 0, "owners": ["aX"]}])).encode().replace(b"aX", b"a\xff")
    assert [o.id for o in _served(scripted, raw).owners_of_shard(0)] == ["a\ufffd"]
    with_bom = b"\xef\xbb\xbf" + json.dumps(_map([_ep("a")], [{"shard": 0, "owners": ["a"]}])).encode()
    assert _served(scripted, with_bom).version == "v1"


def test_json_nested_deeper_than_python_reads_is_not_json(scripted: Any) -> None:  # noqa: F811
    # RecursionError is no ValueError: it came out as "keyway at URL: RecursionError(...)".
    _not_json(scripted, b"[" * 100_000 + b"]" * 100_000)


def test_an_id_given_twice_serves_as_its_last_entry_says() -> None:
    # Owner is compared by value, so the first entry's "ready" kept the owner serving although the
    # last entry, the one its id names, says it is not: pick chose it, the TypeScript client n2.
    body = _map([_ep("n1"), _ep("n1", ready=False), _ep("n2", port=7002)], [{"shard": 0, "owners": ["n1", "n2"]}])
    held = smc._decode_shard_map(body, URL, None)
    assert ShardMapClient._pick(held, 0, lambda: 0.5) == Owner("n2", "10.0.0.1", 7002)


def test_an_owner_id_that_is_not_a_string_is_refused_after_a_list_of_its_text() -> None:
    # Lists were keyed by str(id): [1] was taken as ["1"] once a shard had listed ["1"].
    body = _map([_ep("1")], [{"shard": 0, "owners": ["1"]}, {"shard": 1, "owners": [1]}])
    assert _refused(body) == "shard 1: unknown owner 1"


@pytest.mark.parametrize(
    "value, message",
    [
        ({"port": 70000.0}, "endpoint a: port 70000"),
        ({"port": 1e-7}, "endpoint a: port 1e-7"),
        ({"port": 0.000001}, "endpoint a: port 0.000001"),
        ({"weight": "x\u00e9"}, 'endpoint a: weight "x\u00e9"'),
    ],
)
def test_refusals_quote_values_as_json_stringify_does(value: Dict[str, Any], message: str) -> None:
    assert _refused(_map([_ep("a", **value)], [{"shard": 0, "owners": ["a"]}])) == message


def test_a_shard_entry_is_quoted_as_json_stringify_does() -> None:
    assert _refused(_map([_ep("a")], [{"shard": "0", "owners": ["a"]}])) == 'shard entry {"shard":"0","owners":["a"]}'
    assert _refused({"version": "v", "shardCount": None}) == "shardCount null"
    assert _refused({"version": "v", "shardCount": True}) == "shardCount true"
    assert _refused({"version": "v"}) == "shardCount undefined"
    assert _refused({"version": "v", "shardCount": 1, "shards": None}) == "undefined shards for shardCount 1"


@pytest.fixture
def berlin() -> Iterator[None]:
    # A zone with an offset and summer time, so local time is told from UTC.
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


# Date.parse of each (node 20, TZ=Europe/Berlin); None: NaN.
DATE_PARSE = [
    ("2026-12-08T01:00:00.000Z", 1796691600000),
    ("2026-12-08T01:00:00.12345678Z", 1796691600123),
    ("2026-12-08T01:00:00.0009Z", 1796691600000),
    ("2026-12-08T01:00:00", 1796688000000),
    ("2026-12-08", 1796688000000),
    ("2026", 1767225600000),
    ("2026-12-08T24:00:00Z", 1796774400000),
    ("2026-02-30T00:00:00Z", 1772409600000),
    ("2026-12-08T01:00:00+0100", 1796688000000),
    ("2026-12-08 01:00:00Z", 1796691600000),
    ("+002026-12-08T01:00:00Z", 1796691600000),
    ("-000001-01-01T00:00:00Z", -62198755200000),
    ("2026-03-29T02:30:00", 1774747800000),
    ("2026-12-08T01:00:00,5Z", None),
    ("2026-W50-2", None),
    ("2026-342", None),
    ("20261208T010000Z", None),
    ("2026-12-08T01:00:00+01", None),
    ("2026-12-08T24:00:01Z", None),
    ("2026-02-32", None),
    ("-000000-01-01T00:00:00Z", None),
    ("+275760-09-13T00:00:00.001Z", None),
]


@pytest.mark.parametrize("text, expected", DATE_PARSE)
def test_version_since_is_read_as_date_parse_reads_it(berlin: None, text: str, expected: Any) -> None:
    # datetime.fromisoformat took forms Date.parse refuses (a comma, week and ordinal dates, the
    # basic format) and kept microseconds, so a map was refused as older by one client and taken by
    # the other.
    got = smc._since_of({"versionSince": text})
    assert (None if math.isnan(got) else round(got * 1000)) == expected


def test_a_map_since_the_same_millisecond_is_not_older(scripted: Any) -> None:  # noqa: F811
    # Date.parse keeps whole ms: 01:00:00.0004Z is 01:00:00.000Z, so v2's map is no older than v1's
    # and is taken; kept to the microsecond it was older and refused.
    answers = [smc_map("v1", "2026-12-08T01:00:00.0004Z"), smc_map("v2", "2026-12-08T01:00:00.0001Z")]
    server = scripted(lambda path, _h: json_reply(answers.pop(0) if len(answers) > 1 else answers[0]))
    client = ShardMapClient(server.url)
    try:
        client.refresh()
        assert client.version == "v1"
        assert client.refresh() is True and client.version == "v2"
    finally:
        client.close()


def smc_map(version: str, since: str) -> Dict[str, Any]:
    return _map([_ep("a")], [{"shard": 0, "owners": ["a"]}], version=version, versionSince=since)


def test_an_etag_is_sent_back_without_the_white_space_around_it(scripted: Any) -> None:  # noqa: F811
    # fetch's Headers trims a header value; http.client kept the trailing space, and sent it back in
    # If-None-Match, where it matched no tag.
    body = smc_map("v1", "2026-12-08T01:00:00.000Z")
    server = scripted(lambda path, _h: json_reply(body, etag='"abc"  '))
    client = ShardMapClient(server.url)
    try:
        client.refresh()
        client.refresh()
        assert [inm for _p, inm in server.paths] == [None, '"abc"']
    finally:
        client.close()


def test_a_readyz_with_nan_is_not_json(scripted: Any) -> None:  # noqa: F811
    body = smc_map("v1", "2026-12-08T01:00:00.000Z")

    def route(path: str, _h: Dict[str, str]) -> Any:
        if path == "/readyz":
            raw = b'{"version":"v1","uptime":NaN}'
            return 200, {"Content-Type": "application/json", "Content-Length": str(len(raw))}, [raw]
        return json_reply(body)

    server = scripted(route)
    client = ShardMapClient(server.url)
    try:
        client.refresh()
        client._poll()
        err = client.last_error
        assert err is not None and err.code == "KEYWAY_UNAVAILABLE" and "not JSON" in err.message
    finally:
        client.close()
