"""ShardMapClient across threads: its callbacks run outside its request lock (an ``on_update``
that takes an application lock while another thread, holding that lock, calls ``refresh()``, say a
connection pool rebuilt under its own lock, must not deadlock), and close() against the poll
thread. Every wait is bounded; nothing is timed."""

from __future__ import annotations

import threading
from typing import Any, List

from keyway_client import KeywayError, ShardMapClient
from test_shard_map_client_unit import eventually, json_reply, refresh_in_thread, scripted, small_map  # noqa: F401 (fixture)


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
