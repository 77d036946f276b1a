"""ShardMapClient in a child of os.fork() (gunicorn --preload, multiprocessing's "fork"), a body
cut short of its Content-Length, and a redirect. Against the scripted server of the unit tests; every wait is
bounded; nothing is timed."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from typing import Any, Dict, Iterator

import pytest

from keyway_client import KeywayError, ShardMapClient
from test_shard_map_client_unit import Scripted, eventually, in_forked_child, json_reply, refresh_in_thread, scripted, small_map  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork of a process with threads
def test_a_forked_child_polls_on_its_own(scripted: Any) -> None:
    state = {"version": "v1"}
    server = scripted(lambda path, _h: json_reply({"version": state["version"]}) if path == "/readyz" else json_reply(small_map(state["version"], f"2026-01-0{state['version'][1]}T00:00:00.000Z")))
    client = ShardMapClient.connect(server.url, poll_interval=0.02)
    try:
        eventually("a poll", lambda: sum(1 for p, _ in server.paths if p == "/readyz") >= 1)

        def child() -> Dict[str, Any]:
            # keyway moves to v2 (the server runs in the parent); the child's own polling must see it.
            state["version"] = "v2"
            for _ in range(1000):
                if client.version == "v2":
                    break
                threading.Event().wait(0.01)
            return {"version": client.version}

        state["version"] = "v2"
        assert in_forked_child(child) == {"version": "v2"}
    finally:
        client.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_forked_child_is_not_stuck_behind_the_parents_poll(scripted: Any) -> None:
    release = threading.Event()
    polled = threading.Event()

    def route(path: str, _h: Dict[str, str]) -> Any:
        if path == "/readyz":
            polled.set()
            release.wait(20.0)  # the parent's poll stays in flight, holding the request lock
            return json_reply({"version": "v1"})
        return json_reply(small_map("v1"))

    server = scripted(route)
    client = ShardMapClient.connect(server.url, poll_interval=0.01)
    try:
        assert polled.wait(10.0)

        assert in_forked_child(lambda: refresh_in_thread(client)) == {"refreshed": True, "changed": False}
    finally:
        release.set()
        client.close()


def test_a_body_cut_short_of_its_content_length_is_said_so() -> None:
    # A keyway that restarts mid-transfer: the answer declares its length and the connection ends early.
    body = json.dumps(small_map("v1")).encode()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]

    def serve() -> None:
        for _ in range(2):  # the client's one request (bounded: the accept times out)
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                f = conn.makefile("rb")
                while f.readline() not in (b"\r\n", b""):
                    pass
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:40])
                conn.shutdown(socket.SHUT_WR)

    srv.settimeout(10.0)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    client = ShardMapClient(f"http://127.0.0.1:{port}", poll_interval=0)
    try:
        with pytest.raises(KeywayError) as info:
            client.refresh()
        assert info.value.code == "KEYWAY_UNAVAILABLE"
        assert f"the connection closed after 40 of the {len(body)} bytes the answer declared" in str(info.value)
        assert client.last_error is info.value
        assert client.version is None
    finally:
        srv.close()


def test_a_redirect_is_said_to_be_one(scripted: Any) -> None:
    # An ingress that sends http:// to https:// (or a moved prefix): no body, or an HTML one.
    server = scripted(lambda path, _h: (308, {"Location": "https://keyway.example/v1/shardmap", "Content-Length": "0"}, [b""]))
    client = ShardMapClient(server.url, poll_interval=0)
    with pytest.raises(KeywayError) as info:
        client.refresh()
    assert info.value.code == "KEYWAY_UNAVAILABLE"
    assert "answered 308, a redirect to https://keyway.example/v1/shardmap: the client follows no redirect" in str(info.value)
    assert client.last_error is info.value
