"""A live copy of keyway's shard map over its REST API (docs/clients.md "Python", docs/api.md
"Polling for changes"): the Python counterpart of ``ShardMapClient`` of ``keyway/client``.

It learns S and every shard's owners from ``GET /v1/shardmap``, polls ``GET /readyz`` (small,
carries ``version``) and fetches the map again only when the version changes, naming the held
map's ``ETag`` in ``If-None-Match`` (a 304 keeps it). On a failure it keeps the last good map and
reports a ``KeywayError``. A hot shard's requests are spread over its readers (``pick``) as
keyway's proxies spread them (docs/hot-shards.md).

Standard library only (http.client, json, threading). Nothing runs until ``connect`` starts the
one poll thread (a daemon: it never keeps the interpreter alive).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import random as _random
import socket
import ssl
import threading
import time
import warnings
import weakref
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

from . import shard_for as _shard_for

__all__ = [
    "ShardMapClient",
    "Owner",
    "KeywayError",
    "KeywayWarning",
    "ERROR_CODES",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_BACKOFF",
    "POLL_JITTER",
    "MAX_TRANSFER",
    "MIN_TRANSFER_BYTES_PER_S",
    "HELD_MAP_GRACE",
    "REJECTED_MAP_RECHECK",
    "MAX_REJECTED_TAGS",
    "MAX_CONNECTION_REUSE",
    "MAX_READYZ_BYTES",
    "MAX_SHARDMAP_BYTES",
    "poll_delay",
]

#: keyway's error codes (docs/errors.md, src/core/errors.ts): an error body's code outside them is
#: reported as KEYWAY_UNAVAILABLE.
ERROR_CODES: Tuple[str, ...] = (
    "CONFIG_PARSE",
    "CONFIG_INVALID",
    "CONFIG_READ",
    "DUPLICATE_ENDPOINT",
    "BAD_ARGUMENT",
    "NOT_FOUND",
    "SOURCE_UNAVAILABLE",
    "SNAPSHOT_INCONSISTENT",
    "KEYWAY_UNAVAILABLE",
    "BUDGET_EXCEEDED",
    "LIMIT_EXCEEDED",
    "UNAUTHENTICATED",
    "INTERNAL",
)

#: Seconds between polls of ``/readyz``; 0 turns polling off.
DEFAULT_POLL_INTERVAL = 1.0
#: Seconds a request waits for keyway's answer, and then for each next chunk of its body.
DEFAULT_TIMEOUT = 5.0
#: The longest wait between polls while they fail, in seconds.
DEFAULT_MAX_BACKOFF = 30.0
#: Each wait is drawn within this fraction of it either way, so clients started together (a
#: rollout) do not poll, and fetch a new map, in step.
POLL_JITTER = 0.1
#: The bound of one request in all, in seconds (``timeout`` if longer, or the time a declared
#: Content-Length takes at MIN_TRANSFER_BYTES_PER_S): a body that trickles in is cut there.
MAX_TRANSFER = 300.0
#: The slowest steady rate a body with a Content-Length may arrive at, past MAX_TRANSFER: clients
#: fetching a new map at once share keyway's link, and cut together they would refetch together.
MIN_TRANSFER_BYTES_PER_S = 16 * 1024
#: A map older than the one in use (its ``versionSince`` earlier) is not taken while a replica
#: served the one in use within this many seconds (or 10 polls, if longer): replicas at different
#: versions would otherwise flip the client between their maps poll after poll.
HELD_MAP_GRACE = 30.0
#: After this many 304s in a row to a refused map's tag with no replica naming the held map, each
#: fetch names the held map alone, so a change undone on the replicas (v1 -> v2 -> v1) is taken.
REJECTED_MAP_RECHECK = 8
#: How many maps refused as older are named in If-None-Match beside the held one (the latest).
MAX_REJECTED_TAGS = 4
#: The longest a connection to keyway is reused, in seconds: the first request after it sends
#: ``Connection: close``, so the next one resolves keyway's name again (a DNS change is followed).
MAX_CONNECTION_REUSE = 300.0
#: The most bytes of a ``/readyz`` answer (keyway's is a few hundred): a wrong base URL that streams
#: without end costs at most this much memory.
MAX_READYZ_BYTES = 1 << 20
#: The most bytes of a ``/v1/shardmap`` answer (keyway's at its work budget's edge is about 29 MB).
MAX_SHARDMAP_BYTES = 256 << 20

#: The most callbacks queued to run (docs/clients.md): while one runs long on another thread, a
#: refresh() queues its own and returns without waiting, so refresh() calls in a loop against a
#: keyway that fails fast queued an on_error each, without end. Past it the oldest on_error is
#: dropped (else the oldest on_update: a later one reads the same client's map), with a
#: KeywayWarning once.
MAX_QUEUED_CALLBACKS = 100

#: A poll woken this many seconds late: the process did not run (paused, a throttled cgroup); that
#: time does not count toward HELD_MAP_GRACE.
_STALL_MIN = 1.0
#: The load-balancing weight keyway gives proxies is at most this (src/core/endpoint.ts
#: MAX_LB_WEIGHT: uint32 / MAX_ENDPOINTS 5000).
_MAX_LB_WEIGHT = 0xFFFFFFFF // 5000
#: The longest interval accepted (Node's longest timer, as the TypeScript client's bound, in s).
_MAX_SECONDS = (2**31 - 1) / 1000.0
_READ_CHUNK = 64 * 1024


class KeywayError(Exception):
    """The error keyway and its client libraries raise (docs/errors.md): go by ``code``, which is
    stable (``KEYWAY_UNAVAILABLE``, ``SOURCE_UNAVAILABLE``, ``UNAUTHENTICATED``, ``BAD_ARGUMENT``,
    ...); the message is for people. ``field`` names the argument a ``BAD_ARGUMENT`` is about."""

    def __init__(self, code: str, message: str, field: Optional[str] = None) -> None:
        super().__init__(f"{code}: {message}" if field is None else f"{code}: {field}: {message}")
        self.code = code
        self.message = message
        self.field = field


class KeywayWarning(UserWarning):
    """An ``on_update`` or ``on_error`` callback raised (reported once per callback), or callbacks
    were dropped past MAX_QUEUED_CALLBACKS (reported once)."""


class Owner(NamedTuple):
    """One owner of a shard: its endpoint id and where it listens."""

    id: str
    address: str
    port: int


class _Pick(NamedTuple):
    """Whom a shard's requests go to when that is not simply its primary (the TypeScript
    client's ShardPick): ``owners`` the first k that serve (or the fallback), ``up_to`` their
    cumulative load-balancing weights."""

    readers: int
    owners: Tuple[Owner, ...]
    up_to: Tuple[int, ...]


class _HeldMap(NamedTuple):
    version: str
    #: When the version came into force (epoch s): ``versionSince``, else ``updatedAt``; NaN if none.
    since: float
    etag: Optional[str]
    shard_count: int
    owners: Tuple[Tuple[Owner, ...], ...]
    picks: Dict[int, _Pick]


class _Answer(NamedTuple):
    status: int
    body: Any
    etag: Optional[str]


_Random = Callable[[], float]


def poll_delay(interval: float, failures: int, max_backoff: float, random: _Random) -> float:
    """The wait before the next poll, in seconds: ``interval`` doubled for each poll failed in a row
    up to ``max_backoff`` (never below ``interval``), then drawn within ±POLL_JITTER with ``random``
    in [0, 1). The same rule as ``pollDelay`` of keyway/client."""
    cap = max(interval, max_backoff)
    base = min(cap, math.ldexp(interval, min(failures, 32)))
    return max(0.001, base * (1 + POLL_JITTER * (2 * random() - 1)))


def _lb_weight(weight: float) -> int:
    # keyway's load-balancing weight (src/core/endpoint.ts lbWeight): weight x 100, rounded half up
    # as JavaScript's Math.round, at least 1, clamped. Python's round() rounds half to even.
    # A finite weight past about 1.8e306 is infinite once x 100: the cap, as Math.min gives it (floor
    # of infinity raised OverflowError, so such a map, which the TypeScript client takes, failed).
    scaled = weight * 100 + 0.5
    return _MAX_LB_WEIGHT if scaled >= _MAX_LB_WEIGHT else max(1, math.floor(scaled))


#: The largest TCP port (an owner's port is 1 to it).
_MAX_PORT = 65535
#: JavaScript's Number.MAX_SAFE_INTEGER: the largest `readers` the TypeScript client takes.
_MAX_SAFE_INTEGER = 2**53 - 1


def _is_int(value: object) -> bool:
    # JSON numbers: 3 and 3.0 are one number to keyway (JavaScript), a bool is not a number.
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value.is_integer()


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _js_int(text: str) -> Union[int, float]:
    # JSON.parse reads every number as a double: an integer literal of 16 digits or more becomes the
    # nearest double, as float() gives it. int() would keep it exact, so 2^53 + 1 passed as an
    # integer the TypeScript client reads as 2^53, and past 4300 digits int() refuses the whole body
    # (sys.set_int_max_str_digits), which JSON.parse reads.
    return int(text) if len(text) <= 15 else float(text)


def _parse_json(raw: bytes) -> Any:
    """A body read as the TypeScript client reads it (TextDecoder, then JSON.parse): bytes that are
    not UTF-8 become U+FFFD and a leading BOM is dropped; ``NaN``, ``Infinity`` and ``-Infinity``,
    which Python's json takes and JSON.parse refuses, are not JSON. Raises ValueError when it is
    not JSON (RecursionError included: nested deeper than Python's json reads)."""
    text = raw.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_int=_js_int)
    except RecursionError:
        raise ValueError("nested too deep") from None


def _js_number(value: float) -> str:
    """A number as JavaScript prints it (Number::toString): 70000 for 70000.0, 1e-7, 1e+21."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that read back as the value, as JavaScript chooses them; only
    # the layout differs. n: where the decimal point falls after the digits' start (ECMAScript's n).
    mantissa, _, exp = repr(abs(float(value))).partition("e")
    whole, _, frac = mantissa.partition(".")
    both = whole + ("" if frac == "0" else frac)
    lead = both.lstrip("0")
    n = len(whole) + int(exp or 0) - (len(both) - len(lead))
    digits = lead.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + ("e+" if e > 0 else "e-") + str(abs(e))


def _js_json(value: object) -> str:
    """A JSON value as JSON.stringify writes it (the TypeScript client's messages): no spaces, no
    escaping of non-ASCII, numbers as JavaScript prints them, a lone surrogate escaped."""
    if value is None or value is True or value is False:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        number = float(value) if isinstance(value, float) or abs(value) > _MAX_SAFE_INTEGER else value
        if isinstance(number, float):
            return "null" if not math.isfinite(number) else _js_number(number)
        return str(number)
    if isinstance(value, str):
        return re.sub(r"[\ud800-\udfff]", lambda c: f"\\u{ord(c.group()):04x}", json.dumps(value, ensure_ascii=False))
    if isinstance(value, list):
        return "[" + ",".join(_js_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_js_json(str(k))}:{_js_json(v)}" for k, v in value.items()) + "}"
    return "null"


def _same_tag(a: str, b: str) -> bool:
    """Weak comparison of two entity tags (RFC 9110 §8.8.3.2): a ``W/`` prefix is ignored."""
    return (a[2:] if a.startswith("W/") else a) == (b[2:] if b.startswith("W/") else b)


def _seconds(field: str, value: object, minimum: float) -> float:
    """An interval argument in seconds: a finite number from ``minimum`` to _MAX_SECONDS."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and minimum <= value <= _MAX_SECONDS:
        return float(value)
    raise KeywayError("BAD_ARGUMENT", f"must be a number of seconds from {minimum:g} to {_MAX_SECONDS:g}, got {value!r}", field)


def _check_token(token: object) -> Optional[str]:
    """The token follows the rule of keyway's ``--admin-token-file``: one word of visible ASCII.
    The error says where, never what the token is: it is a secret."""
    if token is None:
        return None
    if not isinstance(token, str) or token == "":
        raise KeywayError("BAD_ARGUMENT", "must be a non-empty string", "token")
    for i, c in enumerate(token):
        if not "\x21" <= c <= "\x7e":
            what = "white space" if c.isspace() else "a control character" if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else "not ASCII"
            raise KeywayError(
                "BAD_ARGUMENT",
                f"must be one word of visible ASCII characters, as keyway's --admin-token-file holds; character {i + 1} is {what}",
                "token",
            )
    return token


class _Base(NamedTuple):
    scheme: str
    host: str
    port: Optional[int]
    #: The path prefix, ending in "/".
    path: str

    def url(self, route: str) -> str:
        port = "" if self.port is None else f":{self.port}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}{port}{self.path}{route}"


def _base_url(raw: object) -> _Base:
    """keyway's REST base URL: an http(s) URL, or a bare ``host:port`` that gets ``http://`` as the
    CLI's ``--server`` does. A path prefix is kept (routes resolve below it)."""
    example = "an http:// or https:// URL such as http://keyway:8080, or host:port"
    if not isinstance(raw, str):
        raise KeywayError("BAD_ARGUMENT", f"must be a URL string, got {type(raw).__name__}", "base_url")
    text = raw.strip()
    has_scheme = re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE) is not None
    try:
        parts = urlsplit(text if has_scheme else f"http://{text}")
        port = parts.port
    except ValueError:
        raise KeywayError("BAD_ARGUMENT", f"must be {example}, got {raw!r}", "base_url") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise KeywayError("BAD_ARGUMENT", f"must be {example}, got {raw!r}", "base_url")
    if parts.username is not None or parts.password is not None:
        # Not quoted: the part before @ may be a password.
        raise KeywayError("BAD_ARGUMENT", "must not hold a user name or password (user:password@host): pass the admin token as token", "base_url")
    path = parts.path or "/"
    if not path.endswith("/"):
        path += "/"
    return _Base(parts.scheme.lower(), parts.hostname, port, path)


def _readyz_version(body: object, url: str) -> str:
    """The ``version`` of a ``/readyz`` body; keyway's not-ready answer (no map yet, as after a
    restart) is SOURCE_UNAVAILABLE, anything else without a version is not keyway."""
    if isinstance(body, dict):
        if isinstance(body.get("version"), str):
            return str(body["version"])
        if body.get("ready") is False and body.get("status") == "not-ready" and isinstance(body.get("reason"), str):
            raise KeywayError("SOURCE_UNAVAILABLE", f"GET {url}: keyway is not ready: {body['reason']}")
    raise KeywayError("KEYWAY_UNAVAILABLE", f"GET {url} answered without a version: is it keyway's REST API?")


#: The date forms Date.parse reads as ISO 8601 (the ECMAScript Date Time String Format, with what
#: V8 adds: a lower-case t or z, a space for T, an offset without its colon). keyway sends
#: toISOString(), ``2026-12-08T01:00:00.000Z``.
_ES_DATE = re.compile(
    r"([+-]\d{6}|\d{4})(?:-(\d{2})(?:-(\d{2}))?)?"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}:?\d{2})?)?",
    re.ASCII,
)
#: The most ms from the epoch a JavaScript Date holds (ECMAScript's time range).
_MAX_DATE_MS = 8.64e15


def _date_ms(text: str) -> float:
    """``Date.parse`` of the ISO forms (``_ES_DATE``), in whole ms as JavaScript counts them; NaN for
    any other text. datetime.fromisoformat read other forms (a comma before the fraction, week
    dates; from Python 3.11 many more) and kept microseconds, so two clients ordered one pair of
    maps differently. V8's own older formats (``2026/12/08``, ``Dec 8 2026``) are not read."""
    m = _ES_DATE.fullmatch(text)
    if m is None or m.group(1) == "-000000":
        return math.nan
    year = int(m.group(1))
    month, day = int(m.group(2) or 1), int(m.group(3) or 1)
    hour, minute, second = int(m.group(4) or 0), int(m.group(5) or 0), int(m.group(6) or 0)
    ms = int((m.group(7) or "0")[:3].ljust(3, "0"))
    # As V8: a day up to 31 rolls into the next month (2026-02-30 is March 2), 24:00 is the next
    # day's start.
    if not (1 <= month <= 12 and 1 <= day <= 31 and minute <= 59 and second <= 59):
        return math.nan
    if hour > 24 or (hour == 24 and (minute or second or ms)):
        return math.nan
    # Days from 1970-01-01 to the month's first day (proleptic Gregorian, any year).
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    t = float((((days + day - 1) * 24 + hour) * 60 + minute) * 60 + second) * 1000 + ms
    zone = m.group(8)
    if zone is not None and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        oh, om = int(zone[1:3]), int(zone[-2:])
        if oh > 23 or om > 59:
            return math.nan
        t -= sign * (oh * 60 + om) * 60000
    elif zone is None and m.group(4) is not None:
        # A date-time without an offset is local time, as in JavaScript (a date alone is UTC).
        try:
            from datetime import datetime, timedelta

            wall = datetime(1970, 1, 1) + timedelta(milliseconds=t - ms)
            t = wall.timestamp() * 1000 + ms
        except (OverflowError, ValueError, OSError):
            return math.nan
    return t if abs(t) <= _MAX_DATE_MS else math.nan


def _since_of(m: Dict[str, Any]) -> float:
    """When a map's version came into force (epoch s): ``versionSince`` (kept across republishes of
    one version), else ``updatedAt`` from a keyway without it; NaN orders nothing."""
    for name in ("versionSince", "updatedAt"):
        value = m.get(name)
        if isinstance(value, str):
            ms = _date_ms(value)
            if not math.isnan(ms):
                return ms / 1000
    return math.nan


def _decode_shard_map(body: object, url: str, etag: Optional[str]) -> _HeldMap:
    """Checks a ``/v1/shardmap`` body and resolves owner ids to addresses (decodeShardMap of
    keyway/client: the same checks and the same draw per hot shard)."""

    def bad(what: str) -> KeywayError:
        return KeywayError("KEYWAY_UNAVAILABLE", f"GET {url}: not a shard map: {what}")

    if not isinstance(body, dict):
        raise bad("not an object")
    version = body.get("version")
    if not isinstance(version, str):
        raise bad("no version")
    count = body.get("shardCount")
    # A safe integer, as Number.isSafeInteger: past 2^53 - 1 a JSON number names no one integer.
    if not _is_int(count) or not 1 <= count <= _MAX_SAFE_INTEGER:  # type: ignore[operator]
        # As String(S) in the TypeScript client, except that a string stays quoted ("3", not 3).
        shown = "undefined" if "shardCount" not in body else _js_number(float(count)) if isinstance(count, (int, float)) and _is_number(count) else _js_json(count)
        raise bad(f"shardCount {shown}")
    S = int(count)  # type: ignore[arg-type]
    shards = body.get("shards")
    if not isinstance(shards, list) or len(shards) != S:
        raise bad(f"{len(shards) if isinstance(shards, list) else 'undefined'} shards for shardCount {S}")
    endpoints = body.get("endpoints")
    if not isinstance(endpoints, list):
        raise bad("no endpoints")
    by_id: Dict[str, Owner] = {}
    weight_of: Dict[Owner, int] = {}
    serving: "set[Owner]" = set()  # ready or draining (a body without the fields: both taken as serving)
    for e in endpoints:
        if not isinstance(e, dict) or not isinstance(e.get("id"), str) or not isinstance(e.get("address"), str) or not _is_number(e.get("port")):
            raise bad("an endpoint without id, address or port")
        # A port keyway can give (1 to 65535): 1.5 or 1e400 (inf once parsed) is no address to dial.
        port = e["port"]
        if not _is_int(port) or not 1 <= port <= _MAX_PORT:
            raise bad(f"endpoint {e['id']}: port {_js_json(port)}")
        # Only an absent weight means the default: `null` is refused, as the TypeScript client does.
        w = e.get("weight")
        if "weight" in e and (w is None or not _is_number(w) or not math.isfinite(w) or w < 0):
            raise bad(f"endpoint {e['id']}: weight {_js_json(w)}")
        owner = Owner(e["id"], e["address"], int(e["port"]))
        by_id[owner.id] = owner
        # The weight proxies spread by, so a weight of 0 still takes a share.
        weight_of[owner] = 1 if w is None else _lb_weight(float(w))
        # Owners are equal by value: an id given twice with the same address and port is one owner,
        # and the last entry says whether it serves (as the last one is the owner its id names).
        if e.get("ready") is not False or e.get("draining") is True:
            serving.add(owner)
        else:
            serving.discard(owner)
    # Many shards share an owner list: one tuple per list, one draw per (list, readers).
    lists: Dict[Tuple[str, ...], Tuple[Owner, ...]] = {}
    draws: Dict[Tuple[int, Tuple[str, ...]], _Pick] = {}
    owners: List[Optional[Tuple[Owner, ...]]] = [None] * S
    picks: Dict[int, _Pick] = {}
    for s in shards:
        index = s.get("shard") if isinstance(s, dict) else None
        ids = s.get("owners") if isinstance(s, dict) else None
        if not isinstance(index, (int, float)) or not _is_int(index) or not 0 <= index < S or owners[int(index)] is not None or not isinstance(ids, list):
            raise bad(f"shard entry {_js_json(s)[:200]}")
        shard = int(index)
        # Keyed by the ids themselves, and only a list of strings is looked up: keyed by str(i),
        # [1] was taken as the list of ["1"] once a shard had listed that.
        name = tuple(ids) if all(isinstance(i, str) for i in ids) else None
        found = lists.get(name) if name is not None else None
        if found is None:
            resolved = []
            for i in ids:
                o = by_id.get(i) if isinstance(i, str) else None
                if o is None:
                    raise bad(f"shard {shard}: unknown owner {_js_json(i)}")
                resolved.append(o)
            found = tuple(resolved)
            if name is not None:
                lists[name] = found
        assert name is not None  # a list with an id that is no string was refused above
        owners[shard] = found
        # As the TypeScript client: `null` refused (only absent means 1), at most 2^53 - 1.
        r = s.get("readers")
        if "readers" in s and (not _is_int(r) or not 1 <= r <= _MAX_SAFE_INTEGER):
            raise bad(f"shard {shard}: readers {_js_json(r)}")
        # keyway caps readers at the owners it lists; so does the client.
        k = min(1 if r is None else int(r), len(found))
        if k < 2 and (len(found) == 0 or found[0] in serving):
            continue
        draw = draws.get((k, name))
        if draw is None:
            draw = draws[(k, name)] = _shard_pick(found, k, serving, weight_of)
        picks[shard] = draw
    return _HeldMap(version, _since_of(body), etag, S, tuple(o or () for o in owners), picks)


#: Every client not yet garbage-collected, for the fork hook below.
_LIVE_CLIENTS: "weakref.WeakSet[ShardMapClient]" = weakref.WeakSet()
#: In a forked child, the connections inherited from the parent (see _after_fork_in_child).
_FORK_ABANDONED: List[http.client.HTTPConnection] = []


def _after_fork_in_child() -> None:
    for client in list(_LIVE_CLIENTS):
        client._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _shard_pick(owners: Tuple[Owner, ...], k: int, serving: "set[Owner]", weight_of: Dict[Owner, int]) -> _Pick:
    """Whom a shard's requests go to, weighted as proxies weigh them (the translator's serving
    owners and readers): the first k that serve; when none does, the first owner that serves,
    else the primary. A reader that cannot serve is not replaced."""
    to = tuple(o for o in owners[:k] if o in serving)
    if not to:
        to = (next((o for o in owners if o in serving), owners[0]),)
    total = 0
    up_to = []
    for o in to:
        total += weight_of[o]
        up_to.append(total)
    return _Pick(k, to, tuple(up_to))


class ShardMapClient:
    """``ShardMapClient`` for Python (docs/clients.md): routes keys in the application by the
    key-to-shard contract and keyway's REST shard map (docs/api.md "Polling for changes"), so an
    application needs no proxy to find a shard's owners.

    ``ShardMapClient.connect(base_url, ...)`` fetches the first map and polls in a daemon thread;
    the plain constructor neither fetches nor polls (call ``refresh()``). Use it as a context
    manager, or call ``close()``. Reads (``owners``, ``pick``, ...) are safe from any thread.
    After ``os.fork()`` the child's client polls on its own thread over its own connection.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: Optional[str] = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        on_update: Optional[Callable[["ShardMapClient"], object]] = None,
        on_error: Optional[Callable[[KeywayError], object]] = None,
    ) -> None:
        """Creates a client that has no map yet and does not poll.

        Raises ``KeywayError`` ``BAD_ARGUMENT`` naming the argument: a base URL that is not an
        http(s) URL or ``host:port``, a bad token, or an interval out of range."""
        self._base = _base_url(base_url)
        self._token = _check_token(token)
        self._poll_interval = _seconds("poll_interval", poll_interval, 0.0)
        self._timeout = _seconds("timeout", timeout, 0.001)
        self._max_backoff = _seconds("max_backoff", max_backoff, 0.001)
        self._on_update = on_update
        self._on_error = on_error
        self._map: Optional[_HeldMap] = None
        self._error: Optional[KeywayError] = None
        self._failures = 0
        self._held_seen_at = 0.0
        #: When the poll thread's wait ends (monotonic s); inf while it is not waiting. Whoever looks
        #: first after it is STALL_MIN past (the poll thread waking, or a refresh() on another
        #: thread that runs before it on resume) discounts the pause from the hold (_take_stall).
        self._poll_due_at = math.inf
        #: Pause taken by _take_stall, not yet discounted from the hold (under _stall_lock): the poll
        #: thread takes it before the request lock, and a refresh() holding that lock first on resume
        #: judged the hold with the pause counted and took an older replica's map.
        self._stall_pending = 0.0
        self._stall_lock = threading.Lock()
        self._rejected_etags: List[str] = []
        self._rejected_hits = 0
        # One request at a time over one connection (http.client is not thread-safe). The
        # callbacks run after it is released (_run_callbacks): under it, an on_update that waits
        # for an application lock deadlocked a thread holding that lock in refresh().
        self._request_lock = threading.RLock()
        #: Callbacks due, queued under the request lock (so in the order the maps were taken), run
        #: once it is released, one at a time, by one thread: the first to find none running.
        self._due: List[Tuple[str, Optional[Callable[[Any], object]], object]] = []
        self._due_lock = threading.Lock()
        #: A thread is running the callbacks due (under _due_lock), and which one (threading.get_ident).
        self._running_callbacks = False
        self._callbacks_runner = 0
        #: Callbacks dropped past MAX_QUEUED_CALLBACKS, not yet warned of (under _due_lock).
        self._dropped_callbacks = 0
        self._conn: Optional[http.client.HTTPConnection] = None
        self._conn_since = time.monotonic()
        # close() bumps it: a request that fails after it failed because of it.
        self._close_gen = 0
        self._closed = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._warned: "set[str]" = set()
        _LIVE_CLIENTS.add(self)

    @classmethod
    def connect(
        cls,
        base_url: str,
        *,
        token: Optional[str] = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        on_update: Optional[Callable[["ShardMapClient"], object]] = None,
        on_error: Optional[Callable[[KeywayError], object]] = None,
    ) -> "ShardMapClient":
        """Fetches the map once, then polls ``/readyz`` in a daemon thread (unless
        ``poll_interval`` is 0). Raises ``KeywayError`` when the first map cannot be had
        (``KEYWAY_UNAVAILABLE``, or keyway's own code such as ``SOURCE_UNAVAILABLE`` or
        ``UNAUTHENTICATED``); nothing is left running then."""
        client = cls(
            base_url,
            token=token,
            poll_interval=poll_interval,
            timeout=timeout,
            max_backoff=max_backoff,
            on_update=on_update,
            on_error=on_error,
        )
        try:
            client.refresh()
        except BaseException:
            client.close()
            raise
        if client._poll_interval > 0:
            client._start_polling()
        return client

    def _start_polling(self) -> None:
        self._thread = threading.Thread(target=self._run, name="keyway-shardmap-poll", daemon=True)
        self._thread.start()

    def _after_fork_in_child(self) -> None:
        """POSIX fork (gunicorn --preload, multiprocessing's "fork", Celery's prefork): a child
        gets no copy of the poll thread, so its map would freeze with no error; its connection is
        the parent's socket, and the request lock may be held by a poll the parent had under way,
        so its refresh() would wait for ever. The child starts afresh with the map in hand."""
        self._request_lock = threading.RLock()
        self._due_lock = threading.Lock()
        # The thread that ran the callbacks is not in the child: its queue is the child's to run;
        # unless it is this thread (a callback forked), which goes on running them when it returns.
        self._running_callbacks = self._running_callbacks and self._callbacks_runner == threading.get_ident()
        self._stall_lock = threading.Lock()
        closed = self._closed.is_set()
        self._closed = threading.Event()
        if closed:
            self._closed.set()
        conn, self._conn = self._conn, None
        if conn is not None:
            # Never conn.close() here: its buffered reader's lock may be held by the parent's poll
            # thread, which does not exist in the child; closing or collecting it would wait for
            # ever. Kept, and its descriptor closed (this process's only: no shutdown, the parent's
            # connection stands).
            _FORK_ABANDONED.append(conn)
            sock = conn.sock
            if sock is not None:
                try:
                    os.close(sock.detach())
                except (OSError, ValueError):
                    pass
        self._conn_since = time.monotonic()
        if self._thread is not None and not closed:
            self._start_polling()

    def __enter__(self) -> "ShardMapClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the map in use ---

    @property
    def version(self) -> Optional[str]:
        """The version of the map in use, None before the first one."""
        held = self._map
        return None if held is None else held.version

    @property
    def shard_count(self) -> Optional[int]:
        """S, the deployment's shard count, None before the first map."""
        held = self._map
        return None if held is None else held.shard_count

    @property
    def last_error(self) -> Optional[KeywayError]:
        """The error of the latest poll or refresh, cleared by the next success."""
        return self._error

    def shard_for(self, key: Union[str, bytes, bytearray, memoryview]) -> int:
        """The shard of ``key`` under the map's S (hash contract 1). Raises ``KeywayError``
        ``SOURCE_UNAVAILABLE`` before the first map."""
        return _shard_for(key, self._held().shard_count)

    def owners(self, key: Union[str, bytes, bytearray, memoryview]) -> Tuple[Owner, ...]:
        """The owners of ``key``'s shard, primary first (empty when no endpoint is ready)."""
        held = self._held()
        return held.owners[_shard_for(key, held.shard_count)]

    def owners_of_shard(self, shard: int) -> Tuple[Owner, ...]:
        """The owners of ``shard``, primary first. ``BAD_ARGUMENT`` outside [0, S)."""
        held = self._held()
        return held.owners[self._checked(held, shard)]

    def readers(self, key: Union[str, bytes, bytearray, memoryview]) -> int:
        """How many of ``key``'s shard's first owners share its requests: k >= 2 for a hot shard,
        1 otherwise, 0 when the shard has no owner (as ``GET /v1/lookup`` says)."""
        held = self._held()
        return self._readers(held, _shard_for(key, held.shard_count))

    def readers_of_shard(self, shard: int) -> int:
        """``readers`` of ``shard``. ``BAD_ARGUMENT`` outside [0, S)."""
        held = self._held()
        return self._readers(held, self._checked(held, shard))

    def pick(self, key: Union[str, bytes, bytearray, memoryview], random: Optional[_Random] = None) -> Optional[Owner]:
        """The owner to send a request for ``key`` to, as proxies choose it: for a hot shard one of
        its first k owners (its readers) drawn by load-balancing weight, else the primary; an owner
        keyway lists as neither ready nor draining is passed over. None when the shard has no
        owner. ``random`` gives numbers in [0, 1) (default ``random.random``)."""
        held = self._held()
        return self._pick(held, _shard_for(key, held.shard_count), random)

    def pick_for_shard(self, shard: int, random: Optional[_Random] = None) -> Optional[Owner]:
        """``pick`` for ``shard``. ``BAD_ARGUMENT`` outside [0, S)."""
        held = self._held()
        return self._pick(held, self._checked(held, shard), random)

    # --- fetching ---

    def refresh(self) -> bool:
        """Fetches ``GET /v1/shardmap`` now and uses it; True when the version in use changed. The
        answer comes from a request started at or after the call (calls from several threads take
        turns). Raises ``KeywayError`` on failure; the last good map stays in use."""
        before = self.version
        try:
            with self._request_lock:
                self._take_stall(woke=False)
                self._discount_stall()
                self._fetch_map()
        finally:
            self._run_callbacks()
        return self.version != before

    def set_token(self, token: Optional[str]) -> None:
        """Replaces the admin bearer token (None sends none) for every request from now on, polls
        included: an application takes a rotated token without a new client. A request in flight
        that keyway refuses (401) with the old token is sent again once with the new one. Raises
        ``BAD_ARGUMENT`` (field ``token``) for a bad token; the token in use is then kept."""
        self._token = _check_token(token)

    def close(self) -> None:
        """Stops polling and ends the request in flight (a ``refresh()`` under way raises
        ``KEYWAY_UNAVAILABLE`` "the client was closed"; ``on_error`` is not called). The map in
        hand stays readable; a later ``refresh()`` still fetches."""
        self._closed.set()
        self._close_gen += 1
        conn = self._conn
        # Read once: the poll thread may drop the connection (sock set to None) meanwhile.
        sock = conn.sock if conn is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # --- internals ---

    def _held(self) -> _HeldMap:
        held = self._map
        if held is None:
            raise KeywayError("SOURCE_UNAVAILABLE", f"no shard map yet from keyway at {self._base.url('')}")
        return held

    @staticmethod
    def _checked(held: _HeldMap, shard: object) -> int:
        if not isinstance(shard, int) or isinstance(shard, bool) or not 0 <= shard < held.shard_count:
            raise KeywayError("BAD_ARGUMENT", f"shard must be an integer in [0, {held.shard_count}), got {shard!r}", "shard")
        return shard

    @staticmethod
    def _readers(held: _HeldMap, shard: int) -> int:
        draw = held.picks.get(shard)
        return draw.readers if draw is not None else min(1, len(held.owners[shard]))

    @staticmethod
    def _pick(held: _HeldMap, shard: int, random: Optional[_Random]) -> Optional[Owner]:
        draw = held.picks.get(shard)
        if draw is None:
            owners = held.owners[shard]
            return owners[0] if owners else None
        x = (random or _random.random)() * draw.up_to[-1]
        for i, upper in enumerate(draw.up_to):
            if x < upper:
                return draw.owners[i]
        # x at the total (random() gave 1) or NaN: the last reader, never past k.
        return draw.owners[-1]

    def _run(self) -> None:
        """The poll thread: waits a jittered interval (longer while polls fail), then polls."""
        while True:
            delay = poll_delay(self._poll_interval, self._failures, self._max_backoff, _random.random)
            with self._stall_lock:
                self._poll_due_at = time.monotonic() + delay
            if self._closed.wait(delay):
                return
            self._take_stall(woke=True)
            self._poll()
            self._run_callbacks()

    def _take_stall(self, woke: bool) -> None:
        """Notes how long the process did not run past the poll thread's due time (if STALL_MIN or
        more) for _discount_stall, taken once: by the poll thread as it wakes (``woke``), or by a
        thread under the request lock that finds it that late, not yet woken (on resume the threads
        run in no set order; the TypeScript client's late poll timer always runs before any I/O
        handler)."""
        with self._stall_lock:
            late = time.monotonic() - self._poll_due_at
            if woke or late >= _STALL_MIN:
                self._poll_due_at = math.inf
            if late >= _STALL_MIN:
                self._stall_pending += late

    def _discount_stall(self) -> None:
        """Time the process did not run heard from no replica: it does not age the held map's
        hold (HELD_MAP_GRACE). Call with the request lock held."""
        with self._stall_lock:
            late, self._stall_pending = self._stall_pending, 0.0
        if late > 0:
            self._held_seen_at = min(time.monotonic(), self._held_seen_at + late)

    def _poll(self) -> None:
        """One poll: ``/readyz``, then the map only if its version differs from the one in hand."""
        with self._request_lock:
            self._discount_stall()
            if self._closed.is_set():
                return
            try:
                version = _readyz_version(self._get("readyz", (200, 503), MAX_READYZ_BYTES).body, self._base.url("readyz"))
            except Exception as err:  # anything else is a bug here, and must not end the poll thread
                self._fail(err if isinstance(err, KeywayError) else KeywayError("KEYWAY_UNAVAILABLE", f"keyway at {self._base.url('')}: {err!r}"))
                self._failures += 1
                return
            if self._closed.is_set():
                # close() came during /readyz: the poll is dropped, as close() says (its fetch
                # would find the socket shut down and go out again on a new connection).
                return
            if version == self.version:
                self._saw_held()
                self._error = None
                self._failures = 0
                return
            try:
                self._fetch_map()
            except Exception:
                # _fetch_map reported it (on_error) and reset the failures on success.
                self._failures += 1

    def _fetch_map(self) -> None:
        """Fetches the map with If-None-Match (the held map's tag, and those of maps refused as
        older while the hold lasts) and takes what it brings unless it is older than the held one
        (HELD_MAP_GRACE). Call with the request lock held."""
        held = self._map
        rejected = self._rejected_etags if held is not None and self._held_recently() and self._rejected_hits < REJECTED_MAP_RECHECK else []
        tags = [t for t in [held.etag if held else None, *rejected] if t is not None]
        try:
            answer = self._get("v1/shardmap", (200, 304), MAX_SHARDMAP_BYTES, ", ".join(tags) or None)
            url = self._base.url("v1/shardmap")
            nxt: Optional[_HeldMap] = None
            if answer.status == 200:
                nxt = _decode_shard_map(answer.body, url, answer.etag)
            elif held is None:
                raise KeywayError("KEYWAY_UNAVAILABLE", f"GET {url} answered 304 to a request that named no ETag: is it keyway's REST API?")
        except Exception as err:
            failure = err if isinstance(err, KeywayError) else KeywayError("KEYWAY_UNAVAILABLE", f"keyway at {self._base.url('')}: {err!r}")
            self._fail(failure)
            if failure is err:
                raise
            raise failure from err
        self._error = None
        self._failures = 0
        if nxt is None:
            assert held is not None
            # A 304 says the held map only when it names it (or when only the held map was named).
            if not rejected or (answer.etag is not None and held.etag is not None and _same_tag(answer.etag, held.etag)):
                self._saw_held()
            else:
                self._rejected_hits += 1
            return
        if held is not None and nxt.version == held.version:
            self._saw_held()
            return
        if held is not None and nxt.since < held.since and self._held_recently():
            # A replica behind the one the client followed: keep the newer map, name this one's tag.
            if nxt.etag is not None:
                self._rejected_etags = [nxt.etag, *[t for t in self._rejected_etags if not _same_tag(t, nxt.etag)]][:MAX_REJECTED_TAGS]
            return
        self._map = nxt
        self._rejected_etags = []
        self._saw_held()
        if held is not None and not self._closed.is_set():
            self._queue_callback("on_update", self._on_update, self)

    def _saw_held(self) -> None:
        self._held_seen_at = time.monotonic()
        self._rejected_hits = 0

    def _held_recently(self) -> bool:
        # Judged with any pause so far discounted: one that came while this request was under way,
        # or that the poll thread took as it woke while this thread held the request lock.
        self._take_stall(woke=False)
        self._discount_stall()
        return time.monotonic() - self._held_seen_at < max(HELD_MAP_GRACE, 10 * self._poll_interval)

    def _fail(self, err: KeywayError) -> None:
        self._error = err
        if not self._closed.is_set():
            self._queue_callback("on_error", self._on_error, err)

    def _queue_callback(self, name: str, fn: Optional[Callable[[Any], object]], arg: object) -> None:
        if fn is not None:
            with self._due_lock:
                self._due.append((name, fn, arg))
                if len(self._due) > MAX_QUEUED_CALLBACKS:
                    oldest = next((i for i, (n, _f, _a) in enumerate(self._due) if n == "on_error"), 0)
                    del self._due[oldest]
                    self._dropped_callbacks += 1

    def _run_callbacks(self) -> None:
        """Runs the callbacks due, outside the request lock, one at a time in the order they were
        queued (the order of the maps), none after close(). Run by both the poll thread and
        refresh() callers, they ran at once on two threads and out of order: an on_update that
        keeps the latest map could finish v3's before v2's and keep v2. If another thread is
        running them, it runs these too: this one returns without waiting, as its wait could be
        for a callback waiting on a lock this thread holds."""
        with self._due_lock:
            dropped, self._dropped_callbacks = self._dropped_callbacks, 0
        if dropped and "callback queue" not in self._warned:
            # Warned here, outside the request lock, as the callbacks are.
            self._warned.add("callback queue")
            warnings.warn(
                f"ShardMapClient: {dropped} callbacks dropped: more than {MAX_QUEUED_CALLBACKS} (MAX_QUEUED_CALLBACKS) were queued behind one still running (later drops are not reported)",
                KeywayWarning,
                stacklevel=3,
            )
        with self._due_lock:
            if self._running_callbacks:
                return
            self._running_callbacks = True
            self._callbacks_runner = threading.get_ident()
        try:
            while True:
                with self._due_lock:
                    if not self._due:
                        self._running_callbacks = False
                        return
                    name, fn, arg = self._due.pop(0)
                if not self._closed.is_set():
                    self._callback(name, fn, arg)
        except BaseException:
            # _callback lets only BaseException through (KeyboardInterrupt, SystemExit): the next
            # thread to come runs what is left.
            with self._due_lock:
                self._running_callbacks = False
            raise

    def _callback(self, name: str, fn: Optional[Callable[[Any], object]], arg: object) -> None:
        """Runs a user callback: what it raises is the application's bug, not keyway's failure, so
        the map stands and polling goes on; the first exception of each callback is warned of."""
        if fn is None:
            return
        try:
            fn(arg)
        except Exception as err:
            if name not in self._warned:
                self._warned.add(name)
                warnings.warn(f"ShardMapClient: {name} raised (later exceptions of it are not reported): {err!r}", KeywayWarning, stacklevel=2)

    def _connection(self) -> http.client.HTTPConnection:
        conn = self._conn
        if conn is None:
            if self._base.scheme == "https":
                conn = http.client.HTTPSConnection(self._base.host, self._base.port, timeout=self._timeout, context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(self._base.host, self._base.port, timeout=self._timeout)
            self._conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _get(self, route: str, accept: Sequence[int], max_bytes: int, if_none_match: Optional[str] = None, retried: bool = False) -> _Answer:
        """GETs a JSON body; a status outside ``accept`` becomes the API's own error code when it
        sends one. A 304 has no body. Call with the request lock held."""
        url = self._base.url(route)
        gen = self._close_gen
        sent_token = self._token
        headers = {"Accept": "application/json"}
        if sent_token is not None:
            headers["Authorization"] = f"Bearer {sent_token}"
        if if_none_match is not None:
            headers["If-None-Match"] = if_none_match
        close_after = time.monotonic() - self._conn_since >= MAX_CONNECTION_REUSE
        if close_after:
            headers["Connection"] = "close"
            self._conn_since = time.monotonic()
        for attempt in (1, 2):
            answered = False
            reused = self._conn is not None and self._conn.sock is not None
            try:
                conn = self._connection()
                conn.request("GET", self._base.path + route, headers=headers)
                res = conn.getresponse()
                answered = True
                # Without the white space around it (HTTP's OWS), as fetch's Headers gives it: kept,
                # a trailing space went back in If-None-Match and matched no tag.
                etag = res.getheader("ETag")
                etag = etag.strip(" \t") if etag is not None else None
                raw = self._read(res, max_bytes, url)
                if close_after or res.will_close:
                    self._drop_connection()
                break
            except KeywayError:
                self._drop_connection()
                raise
            except (OSError, http.client.HTTPException) as err:
                self._drop_connection()
                if self._close_gen != gen:
                    raise KeywayError("KEYWAY_UNAVAILABLE", f"GET {url}: the client was closed") from err
                # keyway closed an idle kept-alive connection (its keep-alive timeout, a restart)
                # just as the request went out: one new connection, as HTTP clients do.
                stale = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
                if attempt == 1 and reused and not answered and isinstance(err, stale):
                    continue
                if isinstance(err, socket.timeout):
                    why = f"no byte of the answer for {self._timeout:g} s" if answered else f"no answer within {self._timeout:g} s"
                else:
                    why = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                raise KeywayError("KEYWAY_UNAVAILABLE", f"GET {url}: {why}") from err
        if res.status == 304 and 304 in accept:
            return _Answer(304, None, etag)
        if 300 <= res.status < 400 and res.status != 304:
            # http.client follows no redirect (an ingress sending http:// to https://, a moved
            # prefix): said as such, not as a body that is not JSON.
            location = res.getheader("Location")
            where = f" to {location[:200]}" if location else ""
            raise KeywayError("KEYWAY_UNAVAILABLE", f"GET {url} answered {res.status}, a redirect{where}: the client follows no redirect; give base_url as the URL keyway answers at")
        try:
            body = _parse_json(raw)
        except ValueError:
            raise KeywayError("KEYWAY_UNAVAILABLE", f"GET {url} answered {res.status} with a body that is not JSON: is it keyway's REST API?") from None
        if res.status not in accept:
            # A token set_token replaced while this request was in flight: send it again with the new one.
            if res.status == 401 and not retried and sent_token != self._token:
                return self._get(route, accept, max_bytes, if_none_match, retried=True)
            api = body.get("error") if isinstance(body, dict) else None
            code = api.get("code") if isinstance(api, dict) else None
            message = api.get("message") if isinstance(api, dict) else None
            detail = message if isinstance(message, str) else raw[:200].decode("utf-8", "replace")
            raise KeywayError(code if code in ERROR_CODES else "KEYWAY_UNAVAILABLE", f"GET {url} answered {res.status}: {detail}")
        return _Answer(res.status, body, etag)

    def _read(self, res: http.client.HTTPResponse, max_bytes: int, url: str) -> bytes:
        """The body, refused (the transfer stopped) past ``max_bytes``, checked against
        Content-Length and as it arrives, and cut at the bound of a transfer in all."""

        def over() -> KeywayError:
            return KeywayError("KEYWAY_UNAVAILABLE", f"GET {url}: the answer is over the {max_bytes}-byte limit: is it keyway's REST API?")

        length_header = res.getheader("Content-Length")
        length = int(length_header) if length_header is not None and length_header.strip().isdigit() else None
        if length is not None and length > max_bytes:
            raise over()
        bound = max(MAX_TRANSFER, self._timeout, 0 if length is None else length / MIN_TRANSFER_BYTES_PER_S)
        started = time.monotonic()
        chunks: List[bytes] = []
        total = 0
        while True:
            # read1: what one receive brings, so the bound in all is checked as bytes trickle in
            # (read(n) would wait for n bytes, each receive within `timeout`, for hours).
            chunk = res.read1(_READ_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise over()
            chunks.append(chunk)
            if time.monotonic() - started > bound:
                raise KeywayError("KEYWAY_UNAVAILABLE", f"GET {url}: the answer took over {bound:g} s in all (the bound of a transfer)")
        if length is not None and total < length and res.status not in (204, 304):
            # http.client ends the body quietly at the connection's end: without this, a body cut
            # short (keyway restarted mid-transfer) read as "not JSON: is it keyway's REST API?".
            raise KeywayError("KEYWAY_UNAVAILABLE", f"GET {url}: the connection closed after {total} of the {length} bytes the answer declared (Content-Length)")
        # Read to its end: http.client sends the next request on this connection only then.
        res.close()
        return b"".join(chunks)
