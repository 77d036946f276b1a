"""keyway_client.ShardMapClient against a tiny scripted HTTP server on 127.0.0.1: the pick vectors
shared with the TypeScript client (testdata/client/pick.json), the body size limits, arguments,
the path prefix, several replicas (HELD_MAP_GRACE), the backoff rule, and that importing the
package starts nothing. Every wait is bounded; nothing is timed."""

from __future__ import annotations

import http.server
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import pytest

import keyway_client
from keyway_client import KeywayError, Owner, ShardMapClient, poll_delay
from keyway_client import shard_map_client as smc

PICK_VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "client" / "pick.json"

# (status, headers, body chunks)
Reply = Tuple[int, Dict[str, str], Iterable[bytes]]


class Scripted:
    """A stand-in for keyway: `route(path, headers)` gives each answer; requests are recorded."""

    def __init__(self, route: Callable[[str, Dict[str, str]], Reply]) -> None:
        self.route = route
        self.paths: List[Tuple[str, Optional[str]]] = []
        scripted = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                scripted.paths.append((self.path, self.headers.get("If-None-Match")))
                status, headers, chunks = scripted.route(self.path, dict(self.headers.items()))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in headers:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                try:
                    for chunk in chunks:
                        self.wfile.write(chunk)
                except OSError:
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[str, Dict[str, str]], Reply]], Scripted]]:
    servers: List[Scripted] = []

    def start(route: Callable[[str, Dict[str, str]], Reply]) -> Scripted:
        servers.append(Scripted(route))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def json_reply(body: Any, status: int = 200, etag: Optional[str] = None) -> Reply:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(raw))}
    if etag is not None:
        headers["ETag"] = etag
    return status, headers, [raw]


def small_map(version: str = "v1", since: str = "2026-01-01T00:00:00.000Z", owner: str = "a") -> Dict[str, Any]:
    return {
        "version": version,
        "shardCount": 2,
        "shards": [{"shard": 0, "owners": [owner]}, {"shard": 1, "owners": [owner]}],
        "endpoints": [{"id": owner, "address": "10.0.0.1", "port": 7000, "weight": 1}],
        "versionSince": since,
    }


def eventually(what: str, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def in_forked_child(check: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    """Runs ``check()`` in a forked child and returns what it returns (a JSON object), or
    ``{"raised": ...}`` for what it raised or a child that did not answer within 30 s (so a check
    run from a callback thread, where pytest.fail would not reach the test, reports it too)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(r)
        try:
            out = check()
        except BaseException as err:  # noqa: BLE001 - reported to the parent
            out = {"raised": repr(err)}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], 30.0)
        if not ready:
            os.kill(pid, 9)
            return {"raised": "the forked child did not answer within 30 s"}
        data = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    return dict(json.loads(data))


def refresh_in_thread(client: ShardMapClient, timeout: float = 10.0) -> Dict[str, Any]:
    """``client.refresh()`` on another thread, waited for at most ``timeout``: ``refreshed`` (it
    returned or raised in time), and ``changed`` (its result) or ``error`` (the code it raised)."""
    done: Dict[str, Any] = {}

    def run() -> None:
        try:
            done["changed"] = client.refresh()
        except KeywayError as err:
            done["error"] = err.code

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    return {"refreshed": not t.is_alive(), **done}


def test_pick_vectors_shared_with_the_typescript_client(scripted: Any) -> None:
    vectors = json.loads(PICK_VECTORS.read_text(encoding="utf-8"))
    server = scripted(lambda path, _h: json_reply(vectors["shardmap"]))
    client = ShardMapClient(server.url, poll_interval=0)
    assert client.refresh() is True
    assert len(vectors["cases"]) > 100
    assert [client.readers_of_shard(s) for s in range(len(vectors["readers"]))] == vectors["readers"]
    for v in vectors["cases"]:
        got = client.pick_for_shard(v["shard"], lambda: float(v["random"]))
        assert (got.id if got else None) == v["pick"], f"shard {v['shard']}, random {v['random']}"
    # NaN (not in JSON) and a random() of 1 stay within the readers, as in the TypeScript client.
    assert client.pick_for_shard(0, lambda: float("nan")) == client.owners_of_shard(0)[2]
    assert client.pick_for_shard(1, lambda: 1.0) == client.owners_of_shard(1)[1]


def test_pick_draw_follows_weights(scripted: Any) -> None:
    body = {
        "version": "v",
        "shardCount": 1,
        "shards": [{"shard": 0, "owners": ["a", "b", "c"], "readers": 2}],
        "endpoints": [{"id": i, "address": "10.0.0.1", "port": 7000, "weight": w} for i, w in [("a", 1), ("b", 3), ("c", 9)]],
    }
    server = scripted(lambda path, _h: json_reply(body))
    client = ShardMapClient(server.url, poll_interval=0)
    client.refresh()
    import random

    rng = random.Random(7)
    seen: Dict[str, int] = {}
    for _ in range(20000):
        o = client.pick("any-key", rng.random)
        assert o is not None
        seen[o.id] = seen.get(o.id, 0) + 1
    assert set(seen) == {"a", "b"}, "never an owner past k"
    assert abs(seen["a"] / 20000 - 0.25) < 0.02


def test_answer_over_the_size_limit_is_refused(scripted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # /readyz: 1 MiB + 1 byte, streamed without a Content-Length: cut as it arrives.
    big = b"x" * (smc.MAX_READYZ_BYTES + 1)
    state = {"readyz": 0}

    def route(path: str, _h: Dict[str, str]) -> Reply:
        if path == "/readyz":
            state["readyz"] += 1
            return 200, {"Content-Type": "application/json"}, (big[i : i + 65536] for i in range(0, len(big), 65536))
        return json_reply(small_map(), etag='W/"m1"')

    server = scripted(route)
    errors: List[KeywayError] = []
    with ShardMapClient.connect(server.url, poll_interval=0.01, max_backoff=0.02, on_error=errors.append) as client:
        eventually("a failed poll", lambda: len(errors) >= 1)
        assert errors[0].code == "KEYWAY_UNAVAILABLE"
        assert f"the answer is over the {1 << 20}-byte limit" in errors[0].message
        assert client.version == "v1", "the last good map stays"

    # /v1/shardmap: its limit (256 MiB) lowered for the test, a declared Content-Length over it.
    monkeypatch.setattr(smc, "MAX_SHARDMAP_BYTES", 100)
    raw = json.dumps(small_map()).encode()
    assert len(raw) > 100
    declared = scripted(lambda path, _h: json_reply(small_map()))
    with pytest.raises(KeywayError) as over:
        ShardMapClient(declared.url, poll_interval=0).refresh()
    assert over.value.code == "KEYWAY_UNAVAILABLE" and "over the 100-byte limit" in over.value.message
    # ... and one without a Content-Length, counted as it arrives.
    streamed = scripted(lambda path, _h: (200, {"Content-Type": "application/json"}, [raw[:60], raw[60:]]))
    with pytest.raises(KeywayError) as over2:
        ShardMapClient(streamed.url, poll_interval=0).refresh()
    assert "over the 100-byte limit" in over2.value.message


def test_base_url_path_prefix_is_kept_and_304_keeps_the_map(scripted: Any) -> None:
    def route(path: str, headers: Dict[str, str]) -> Reply:
        if headers.get("If-None-Match") == 'W/"m1"':
            return 304, {"ETag": 'W/"m1"', "Content-Length": "0"}, []
        return json_reply(small_map(), etag='W/"m1"')

    server = scripted(route)
    client = ShardMapClient(server.url + "/keyway", poll_interval=0)
    assert client.refresh() is True
    assert client.refresh() is False
    assert server.paths == [("/keyway/v1/shardmap", None), ("/keyway/v1/shardmap", 'W/"m1"')]
    assert client.owners("k") == (Owner("a", "10.0.0.1", 7000),)
    # A bare host:port gets http://, as the CLI's --server does.
    bare = ShardMapClient(server.url[len("http://") :], poll_interval=0)
    bare.refresh()
    assert bare.version == "v1"


def test_arguments_and_no_map_yet() -> None:
    for kwargs, field in [
        ({"base_url": "ftp://x"}, "base_url"),
        ({"base_url": "http://user:pw@x"}, "base_url"),
        ({"base_url": "http://x", "poll_interval": -1}, "poll_interval"),
        ({"base_url": "http://x", "timeout": 0}, "timeout"),
        ({"base_url": "http://x", "max_backoff": float("inf")}, "max_backoff"),
        ({"base_url": "http://x", "token": "two words"}, "token"),
        ({"base_url": "http://x", "token": ""}, "token"),
    ]:
        with pytest.raises(KeywayError) as bad:
            ShardMapClient(**kwargs)
        assert bad.value.code == "BAD_ARGUMENT" and bad.value.field == field, kwargs
        assert "words" not in bad.value.message.replace("one word", ""), "a token is never quoted"
    client = ShardMapClient("http://127.0.0.1:9", poll_interval=0)
    assert client.version is None and client.shard_count is None
    with pytest.raises(KeywayError) as none:
        client.owners("k")
    assert none.value.code == "SOURCE_UNAVAILABLE"
    with pytest.raises(KeywayError) as bad_token:
        client.set_token("bad\ttoken")
    assert bad_token.value.code == "BAD_ARGUMENT" and "bad" not in bad_token.value.message


def test_unreachable_and_error_codes(scripted: Any) -> None:
    with pytest.raises(KeywayError) as down:
        ShardMapClient.connect("http://127.0.0.1:9", timeout=2)  # discard port: refused
    assert down.value.code == "KEYWAY_UNAVAILABLE"
    no_map = scripted(lambda path, _h: json_reply({"error": {"code": "SOURCE_UNAVAILABLE", "message": "no shard map yet"}}, status=503))
    with pytest.raises(KeywayError) as waiting:
        ShardMapClient.connect(no_map.url)
    assert waiting.value.code == "SOURCE_UNAVAILABLE"


def test_bad_shard_argument(scripted: Any) -> None:
    server = scripted(lambda path, _h: json_reply(small_map()))
    client = ShardMapClient(server.url, poll_interval=0)
    client.refresh()
    for bad in (-1, 2, True, 1.0):
        with pytest.raises(KeywayError) as e:
            client.owners_of_shard(bad)  # type: ignore[arg-type]
        assert e.value.code == "BAD_ARGUMENT" and e.value.field == "shard"


def test_an_older_map_from_a_replica_behind_is_not_taken(scripted: Any) -> None:
    # Two replicas behind one address: the newer map (v2) came into force after v1. A poll that
    # reaches the replica still at v1 keeps v2 (HELD_MAP_GRACE), and names v1's tag next time.
    newer = small_map("v2", "2026-01-01T00:01:00.000Z", owner="b")
    older = small_map("v1", "2026-01-01T00:00:00.000Z", owner="a")
    serve = {"map": newer, "etag": 'W/"v2"'}

    def route(path: str, headers: Dict[str, str]) -> Reply:
        inm = headers.get("If-None-Match") or ""
        if serve["etag"] in [t.strip() for t in inm.split(",")]:
            return 304, {"ETag": str(serve["etag"]), "Content-Length": "0"}, []
        return json_reply(serve["map"], etag=str(serve["etag"]))

    server = scripted(route)
    updates: List[str] = []
    client = ShardMapClient(server.url, poll_interval=0, on_update=lambda c: updates.append(c.version or ""))
    client.refresh()
    assert client.version == "v2"
    serve.update(map=older, etag='W/"v1"')
    assert client.refresh() is False
    assert client.version == "v2" and updates == [] and client.last_error is None
    assert client.refresh() is False
    assert server.paths[-1] == ("/v1/shardmap", 'W/"v2", W/"v1"'), "the refused map's tag named too: a 304"
    # Past the grace (no replica served v2 since), the older map is taken.
    client._held_seen_at -= smc.HELD_MAP_GRACE + 1
    assert client.refresh() is True
    assert client.version == "v1" and updates == ["v1"]


def test_poll_delay_doubles_to_the_cap_with_jitter() -> None:
    assert [poll_delay(1.0, n, 30.0, lambda: 0.5) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert poll_delay(1.0, 0, 30.0, lambda: 0.0) == pytest.approx(0.9)
    assert poll_delay(1.0, 40, 30.0, lambda: 0.999999) == pytest.approx(33.0, rel=1e-5)
    assert poll_delay(5.0, 3, 1.0, lambda: 0.5) == 5.0, "a cap below the interval leaves the interval"


def test_close_ends_a_request_in_flight(scripted: Any) -> None:
    release = threading.Event()

    def route(path: str, _h: Dict[str, str]) -> Reply:
        release.wait(10)
        return json_reply(small_map())

    server = scripted(route)
    errors: List[KeywayError] = []
    client = ShardMapClient(server.url, poll_interval=0, timeout=30, on_error=errors.append)
    failed: List[KeywayError] = []

    def refresh() -> None:
        try:
            client.refresh()
        except KeywayError as e:
            failed.append(e)

    t = threading.Thread(target=refresh)
    t.start()
    eventually("the request to reach the server", lambda: len(server.paths) == 1)
    client.close()
    t.join(10)
    release.set()
    assert len(failed) == 1 and failed[0].code == "KEYWAY_UNAVAILABLE" and failed[0].message.endswith("the client was closed")
    assert errors == [], "on_error is not called for close()"


def test_import_starts_nothing_and_loads_no_http_code() -> None:
    code = (
        "import sys, threading, keyway_client\n"
        "keyway_client.shard_for('k', 8)\n"
        "assert threading.active_count() == 1\n"
        "assert 'http.client' not in sys.modules and 'keyway_client.shard_map_client' not in sys.modules, sorted(sys.modules)\n"
        "keyway_client.ShardMapClient('http://127.0.0.1:9')\n"
        "assert threading.active_count() == 1\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=Path(keyway_client.__file__).parents[1], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_a_callback_may_call_refresh(scripted: Any) -> None:
    # on_update runs on the poll thread while it holds the client's request lock: a refresh() from
    # it must not deadlock the poll thread.
    serve = {"version": "v1"}

    def route(path: str, _h: Dict[str, str]) -> Reply:
        if path == "/readyz":
            return json_reply({"ready": True, "version": serve["version"]})
        return json_reply(small_map(serve["version"], "2026-01-01T00:00:0%s.000Z" % serve["version"][1:]))

    server = scripted(route)
    refreshed: List[bool] = []
    with ShardMapClient.connect(server.url, poll_interval=0.01, on_update=lambda c: None if refreshed else refreshed.append(c.refresh())) as client:
        serve["version"] = "v2"
        eventually("the callback's refresh", lambda: len(refreshed) == 1)
        serve["version"] = "v3"
        eventually("polling to go on", lambda: client.version == "v3")
    assert refreshed[0] is False


def test_a_trickling_answer_is_cut_at_the_bound_of_a_transfer(scripted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # One byte at a time, each well within `timeout`: only the bound in all (MAX_TRANSFER, lowered
    # for the test) ends the transfer, while the body is still far from any read size.
    monkeypatch.setattr(smc, "MAX_TRANSFER", 0.2)
    sent = {"bytes": 0}

    def trickle() -> Iterator[bytes]:
        for _ in range(400):
            sent["bytes"] += 1
            yield b" "
            time.sleep(0.01)

    server = scripted(lambda path, _h: (200, {"Content-Type": "application/json"}, trickle()))
    with pytest.raises(KeywayError) as cut:
        ShardMapClient(server.url, poll_interval=0, timeout=0.2).refresh()
    assert cut.value.code == "KEYWAY_UNAVAILABLE"
    assert "(the bound of a transfer)" in cut.value.message
    assert sent["bytes"] < 400, "cut before the server finished"


def test_error_codes_are_keyways() -> None:
    """ERROR_CODES is keyway's list (src/core/errors.ts), in its order: a code added there and not
    here would be reported as KEYWAY_UNAVAILABLE."""
    import pathlib
    import re as _re

    from keyway_client import ERROR_CODES

    source = (pathlib.Path(__file__).resolve().parents[3] / "src" / "core" / "errors.ts").read_text("utf-8")
    block = source.split("export const ERROR_CODES = [", 1)[1].split("]", 1)[0]
    assert tuple(_re.findall(r"'([A-Z_]+)'", block)) == ERROR_CODES


def _one_shard_map(endpoint: Dict[str, Any], shard: Dict[str, Any]) -> Dict[str, Any]:
    return {"version": "v1", "shardCount": 1, "endpoints": [endpoint], "shards": [{"shard": 0, "owners": ["a"], **shard}]}


@pytest.mark.parametrize(
    "endpoint, shard, message",
    [
        ({"weight": None}, {}, "endpoint a: weight null"),
        ({}, {"readers": None}, "shard 0: readers null"),
        ({}, {"readers": 2**53}, f"shard 0: readers {2**53}"),
        ({"port": 1.5}, {}, "endpoint a: port 1.5"),
        ({"port": 0}, {}, "endpoint a: port 0"),
        ({"port": 65536}, {}, "endpoint a: port 65536"),
        # 1e400 reads as infinity; JSON.stringify writes it null, as the TypeScript client says it.
        ({"port": float("inf")}, {}, "endpoint a: port null"),
    ],
)
def test_maps_the_typescript_client_refuses_are_refused(endpoint: Dict[str, Any], shard: Dict[str, Any], message: str) -> None:
    # Only an absent weight or readers takes the default; the TypeScript and Go clients refuse these.
    body = _one_shard_map({"id": "a", "address": "127.0.0.1", "port": 1, **endpoint}, shard)
    with pytest.raises(KeywayError) as e:
        smc._decode_shard_map(body, "http://k/v1/shardmap", None)
    assert e.value.code == "KEYWAY_UNAVAILABLE" and e.value.message.endswith(f"not a shard map: {message}")


def test_absent_weight_and_readers_and_the_largest_readers_are_taken() -> None:
    held = smc._decode_shard_map(_one_shard_map({"id": "a", "address": "127.0.0.1", "port": 1}, {"readers": 2**53 - 1}), "u", None)
    assert [o.id for o in held.owners[0]] == ["a"]
