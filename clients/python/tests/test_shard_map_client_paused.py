"""ShardMapClient after the process was paused (SIGSTOP, a throttled cgroup, a VM migrating): time
it did not run heard from no keyway replica, so it does not age the hold on the map in use
(HELD_MAP_GRACE, docs/clients.md "Several keyway replicas"). The pause is the client's monotonic
clock jumping ahead; every wait is bounded and nothing is timed."""

from __future__ import annotations

import math
import time
import types
from typing import Any, Dict, List

import pytest

from keyway_client import ShardMapClient
from keyway_client import shard_map_client as smc
from test_shard_map_client_unit import Reply, eventually, json_reply, scripted  # noqa: F401 (fixture)

OLDER = {"version": "vA", "since": "2026-01-01T00:00:00.000Z", "etag": 'W/"aaaa"', "owner": "a"}
NEWER = {"version": "vB", "since": "2026-01-01T00:00:05.000Z", "etag": 'W/"bbbb"', "owner": "b"}


def replicas(scripted: Any, at: Dict[str, Any]) -> Any:
    """Two replicas behind one address: every request goes to ``at["replica"]``."""

    def route(path: str, headers: Dict[str, str]) -> Reply:
        r = at["replica"]
        at["requests"] += 1
        if path == "/readyz":
            return json_reply({"ready": True, "status": "ready", "version": r["version"]})
        if r["etag"] in [t.strip() for t in (headers.get("If-None-Match") or "").split(",")]:
            return 304, {"ETag": r["etag"], "Content-Length": "0"}, []
        owner = r["owner"]
        body = {
            "version": r["version"],
            "versionSince": r["since"],
            "shardCount": 1,
            "shards": [{"shard": 0, "owners": [owner]}],
            "endpoints": [{"id": owner, "address": "127.0.0.1", "port": 7000}],
        }
        return json_reply(body, etag=r["etag"])

    return scripted(route)


class PausedClock:
    """``time`` as the client module sees it: the monotonic clock of a process paused ``paused`` s."""

    def __init__(self) -> None:
        self.paused = 0.0

    def module(self) -> types.SimpleNamespace:
        return types.SimpleNamespace(monotonic=lambda: time.monotonic() + self.paused)


def test_a_poll_after_a_pause_does_not_take_an_older_replicas_map(scripted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    at: Dict[str, Any] = {"replica": NEWER, "requests": 0}
    server = replicas(scripted, at)
    clock = PausedClock()
    monkeypatch.setattr(smc, "time", clock.module())
    with ShardMapClient.connect(server.url, poll_interval=0.5) as client:
        assert client.version == "vB"
        seen = at["requests"]
        eventually("a poll answered by the newer replica", lambda: at["requests"] > seen)
        # Stopped for twice the grace while the next poll waits; on resume it reaches the replica behind.
        at["replica"] = OLDER
        clock.paused = 2 * smc.HELD_MAP_GRACE
        resumed = at["requests"]
        eventually("two polls after the pause", lambda: at["requests"] >= resumed + 4, timeout=20.0)
        assert client.version == "vB", "no replica was heard from during the pause, none was found gone"


def test_a_refresh_on_resume_before_the_poll_thread_runs_keeps_the_newer_map(scripted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # On resume every thread runs again, in no set order: an application thread that refreshes (a
    # routing miss) before the poll thread has woken must not count the pause either. The TypeScript
    # client cannot meet this: the poll's late timer runs before any I/O handler on resume.
    at: Dict[str, Any] = {"replica": NEWER, "requests": 0}
    server = replicas(scripted, at)
    clock = PausedClock()
    monkeypatch.setattr(smc, "time", clock.module())
    updates: List[str] = []
    # A poll 5 s away: it does not wake within the test, as a poll thread not yet scheduled.
    with ShardMapClient.connect(server.url, poll_interval=5.0, on_update=lambda c: updates.append(str(c.version))) as client:
        assert client.version == "vB"
        at["replica"] = OLDER
        clock.paused = 3 * max(smc.HELD_MAP_GRACE, 10 * 5.0)
        assert client.refresh() is False
        assert client.version == "vB" and updates == []
        assert server.paths[-1] == ("/v1/shardmap", 'W/"bbbb"')
        assert client.refresh() is False
        assert server.paths[-1] == ("/v1/shardmap", 'W/"bbbb", W/"aaaa"'), "the refused map named: the hold stands"


def test_a_refresh_past_the_grace_without_a_pause_takes_the_older_map(scripted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The other side: the poll thread ran on time (it is not late), so the time is the replicas'
    # silence about the newer map, and past the grace the older map is taken.
    at: Dict[str, Any] = {"replica": NEWER, "requests": 0}
    server = replicas(scripted, at)
    clock = PausedClock()
    monkeypatch.setattr(smc, "time", clock.module())
    with ShardMapClient.connect(server.url, poll_interval=5.0) as client:
        at["replica"] = OLDER
        assert client.refresh() is False
        # Only the hold aged: the poll thread is not due, so the process ran.
        client._held_seen_at -= 2 * max(smc.HELD_MAP_GRACE, 10 * 5.0)
        assert client.refresh() is True
        assert client.version == "vA"


def test_a_refresh_holding_the_request_lock_as_the_poll_thread_wakes_keeps_the_newer_map(scripted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # On resume the poll thread wakes first and notes the pause, but an application thread's
    # refresh() takes the request lock before the poll thread does: the hold must be judged with
    # the pause the poll thread noted. The test thread holds the request lock (it is reentrant) as
    # that refresh() would, and refreshes once the poll thread has woken.
    at: Dict[str, Any] = {"replica": NEWER, "requests": 0}
    server = replicas(scripted, at)
    clock = PausedClock()
    monkeypatch.setattr(smc, "time", clock.module())
    with ShardMapClient.connect(server.url, poll_interval=1.0) as client:
        assert client.version == "vB"
        for _ in range(200):
            client._request_lock.acquire()
            if client._poll_due_at != math.inf:
                break  # the poll thread waits, and can go no further than the request lock
            client._request_lock.release()
            time.sleep(0.01)
        else:
            pytest.fail("the poll thread never seen waiting")
        try:
            at["replica"] = OLDER
            clock.paused = 3 * max(smc.HELD_MAP_GRACE, 10 * 1.0)
            eventually("the poll thread woke after the pause", lambda: client._poll_due_at == math.inf)
            assert client.refresh() is False
            assert client.version == "vB", "no replica was heard from during the pause, none was found gone"
            assert server.paths[-1] == ("/v1/shardmap", 'W/"bbbb"')
        finally:
            client._request_lock.release()


def test_a_pause_during_a_refresh_request_is_not_counted(scripted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The process stops while a refresh() waits for its answer, and the answer on resume comes from
    # the replica behind: that refresh() judges the hold after the pause, which must not count.
    at: Dict[str, Any] = {"replica": NEWER, "requests": 0}
    clock = PausedClock()
    pause_in_answer = {"on": False}
    route = replicas(lambda r: r, at)

    def paused_route(path: str, headers: Dict[str, str]) -> Reply:
        if pause_in_answer["on"] and path == "/v1/shardmap":
            clock.paused = 3 * max(smc.HELD_MAP_GRACE, 10 * 5.0)
        return route(path, headers)  # type: ignore[no-any-return]

    server = scripted(paused_route)
    monkeypatch.setattr(smc, "time", clock.module())
    with ShardMapClient.connect(server.url, poll_interval=5.0) as client:
        assert client.version == "vB"
        at["replica"] = OLDER
        pause_in_answer["on"] = True
        assert client.refresh() is False
        assert client.version == "vB", "no replica was heard from during the pause, none was found gone"
