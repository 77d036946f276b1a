"""ShardMapClient across threads: its callbacks run outside its request lock (an ``on_update``
that takes an application lock while another thread, holding that lock, calls ``refresh()``, say a
connection pool rebuilt under its own lock, must not deadlock), and close() against the poll
thread. Every wait is bounded; nothing is timed."""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, List

import pytest

from keyway_client import KeywayError, KeywayWarning, ShardMapClient
from test_shard_map_client_unit import eventually, in_forked_child, json_reply, refresh_in_thread, scripted, small_map  # noqa: F401 (fixture)


def test_on_update_taking_an_application_lock_does_not_deadlock_refresh(scripted: Any) -> None:
    state = {"version": "v1"}
    server = scripted(lambda path, _h: json_reply({"version": state["version"]}) if path == "/readyz" else json_reply(small_map(state["version"], f"2026-01-0{state['version'][1]}T00:00:00.000Z")))
    app_lock = threading.Lock()
    entered = threading.Event()
    seen: List[str] = []

    def on_update(client: ShardMapClient) -> None:
        entered.set()
        with app_lock:  # the application's own lock
            seen.append(str(client.version))

    client = ShardMapClient.connect(server.url, poll_interval=0.01, on_update=on_update)
    try:
        with app_lock:
            state["version"] = "v2"
            assert entered.wait(10.0), "the poll thread took v2"
            # Holding the application lock, as a request handler that refreshes on a routing miss.
            done = refresh_in_thread(client)
        assert done["refreshed"], "refresh() waited for on_update, which waited for the caller's lock"
        assert done == {"refreshed": True, "changed": False}
        eventually("on_update to finish", lambda: seen == ["v2"])
    finally:
        client.close()


def test_on_error_runs_outside_the_request_lock(scripted: Any) -> None:
    server = scripted(lambda path, _h: json_reply({"error": {"code": "SOURCE_UNAVAILABLE", "message": "no map yet"}}, status=503))
    holders: List[bool] = []
    client: ShardMapClient

    def on_error(err: KeywayError) -> None:
        # Another thread can take the request lock while on_error runs.
        got: List[bool] = []

        def take() -> None:
            ok = client._request_lock.acquire(timeout=10.0)
            got.append(ok)
            if ok:
                client._request_lock.release()

        t = threading.Thread(target=take)
        t.start()
        t.join(10.0)
        holders.append(got == [True])

    client = ShardMapClient(server.url, poll_interval=0, on_error=on_error)
    try:
        try:
            client.refresh()
        except KeywayError as err:
            assert err.code == "SOURCE_UNAVAILABLE"
        assert holders == [True]
    finally:
        client.close()


def test_a_poll_closed_after_its_readyz_fetches_no_map(scripted: Any, monkeypatch: Any) -> None:
    # docs/clients.md: close() drops a poll under way (it fetches no map). Closed between the poll's
    # /readyz and its map fetch, the fetch must not be sent on a new connection.
    from keyway_client import shard_map_client as smc

    state = {"version": "v1"}
    server = scripted(lambda path, _h: json_reply({"version": state["version"]}) if path == "/readyz" else json_reply(small_map(state["version"], f"2026-01-0{state['version'][1]}T00:00:00.000Z")))
    client = ShardMapClient.connect(server.url, poll_interval=0.01)
    real = smc._readyz_version
    closed = threading.Event()

    def readyz_then_close(body: object, url: str) -> str:
        version = real(body, url)
        if version == "v2":
            client.close()
            closed.set()
        return version

    monkeypatch.setattr(smc, "_readyz_version", readyz_then_close)
    state["version"] = "v2"
    assert closed.wait(10.0)
    assert client._thread is not None
    client._thread.join(10.0)
    assert not client._thread.is_alive()
    assert [p for p, _ in server.paths].count("/v1/shardmap") == 1  # connect's only
    assert client.version == "v1"


def test_close_while_the_connection_is_dropped_does_not_raise() -> None:
    # The poll thread drops the connection (HTTPConnection.close sets sock to None) while close()
    # looks at it: close() must not fail with AttributeError.
    import socket as _socket

    a, b = _socket.socketpair()

    class Dropping:
        def __init__(self) -> None:
            self.reads = 0

        @property
        def sock(self) -> Any:
            self.reads += 1
            return a if self.reads == 1 else None

    client = ShardMapClient("http://127.0.0.1:9", poll_interval=0)
    client._conn = Dropping()  # type: ignore[assignment]
    try:
        client.close()
        client.close()  # twice: nothing more
    finally:
        a.close()
        b.close()


def test_callbacks_run_one_at_a_time_in_the_order_of_the_maps(scripted: Any) -> None:
    # The poll thread's on_update for v2 is under way (it read v2) when a refresh() on another
    # thread takes v3. Run at once on the refresh()'s thread, v3's on_update finished first and
    # v2's last: an application keeping "the latest map" from on_update was left with v2.
    state = {"version": "v1"}
    server = scripted(lambda path, _h: json_reply({"version": state["version"]}) if path == "/readyz" else json_reply(small_map(state["version"], f"2026-01-0{state['version'][1]}T00:00:00.000Z")))
    entered = threading.Event()
    gate = threading.Event()
    kept: List[str] = []
    running: List[int] = [0]
    most: List[int] = [0]
    count_lock = threading.Lock()

    def on_update(client: ShardMapClient) -> None:
        with count_lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        seen = str(client.version)
        if seen == "v2":
            entered.set()
            gate.wait(10.0)
        kept.append(seen)  # the application's "latest map"
        with count_lock:
            running[0] -= 1

    client = ShardMapClient.connect(server.url, poll_interval=0.01, on_update=on_update)
    try:
        state["version"] = "v2"
        assert entered.wait(10.0), "the poll thread took v2"
        state["version"] = "v3"
        done = refresh_in_thread(client)
        assert done == {"refreshed": True, "changed": True}, "refresh() does not wait for the poll thread's callback"
        assert client.version == "v3"
        gate.set()
        eventually("both callbacks", lambda: len(kept) == 2)
        assert kept == ["v2", "v3"], "the latest map the application kept is the one in use"
        assert most[0] == 1, "one callback at a time"
    finally:
        gate.set()
        client.close()


def test_callbacks_queued_behind_a_running_one_are_bounded(scripted: Any) -> None:
    # keyway is down (fast 503s) and request threads refresh() on each routing miss while on_error
    # runs on another thread (a slow log sink): each refresh() queues its on_error and returns
    # without waiting, so the queue grew by one per refresh() for as long as that callback ran,
    # and every stale error was replayed afterwards.
    from keyway_client import shard_map_client as smc

    server = scripted(lambda _p, _h: json_reply({"error": {"code": "SOURCE_UNAVAILABLE", "message": "no map yet"}}, status=503))
    entered = threading.Event()
    gate = threading.Event()
    seen: List[str] = []

    def on_error(err: KeywayError) -> None:
        if not seen:
            entered.set()
            gate.wait(10.0)
        seen.append(err.message)

    client = ShardMapClient(server.url, on_error=on_error)
    try:
        def first_refresh() -> None:
            with pytest.raises(KeywayError):
                client.refresh()  # its on_error holds this thread until the gate opens

        first = threading.Thread(target=first_refresh, daemon=True)
        first.start()
        assert entered.wait(10.0)
        calls = smc.MAX_QUEUED_CALLBACKS + 20
        with pytest.warns(KeywayWarning, match="callbacks"):
            for _ in range(calls):
                with pytest.raises(KeywayError):
                    client.refresh()
        assert len(client._due) == smc.MAX_QUEUED_CALLBACKS
        gate.set()
        eventually("the queued callbacks run", lambda: len(client._due) == 0 and not client._running_callbacks)
        assert len(seen) == 1 + smc.MAX_QUEUED_CALLBACKS, "the oldest errors were dropped, the latest kept"
        first.join(10.0)
    finally:
        gate.set()
        client.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork of a process with threads
def test_a_child_forked_from_a_callback_still_runs_callbacks_one_at_a_time(scripted: Any) -> None:
    # on_update forks (multiprocessing's "fork" start method, a worker spawned on a new map): in
    # the child the forking thread is still in that on_update, and goes on running the queue when
    # it returns. Another thread of the child must leave its callbacks queued to it, not run them
    # at once beside it.
    state = {"version": "v1"}
    server = scripted(lambda path, _h: json_reply({"version": state["version"]}) if path == "/readyz" else json_reply(small_map(state["version"], f"2026-01-0{state['version'][1]}T00:00:00.000Z")))
    running: List[int] = [0]
    most: List[int] = [0]
    count_lock = threading.Lock()
    result: Dict[str, Any] = {}

    def on_update(c: ShardMapClient) -> None:
        with count_lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            if str(c.version) == "v2":
                state["version"] = "v3"  # the parent's server answers the child's refresh() with v3
                result.update(in_forked_child(lambda: _refresh_beside(c, most)))
        finally:
            with count_lock:
                running[0] -= 1

    client = ShardMapClient(server.url, on_update=on_update)
    try:
        client.refresh()
        state["version"] = "v2"
        assert client.refresh() is True
        assert result.get("refreshed") is True, result
        assert result["most"] == 1, "in the child, one callback at a time"
    finally:
        client.close()


def _refresh_beside(client: ShardMapClient, most: List[int]) -> Dict[str, Any]:
    """In the child, still inside on_update: a refresh() on another thread that takes v3."""
    done = refresh_in_thread(client)
    return {"refreshed": done.get("changed") is True, "most": most[0], "version": client.version}


