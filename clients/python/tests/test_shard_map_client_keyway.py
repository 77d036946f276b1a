"""keyway_client.ShardMapClient against a real `keyway serve` (bin/keyway.js over dist/, built by
`npm run build`; scripts/test-clients.sh builds it first). Without node or dist/ these tests skip,
and fail under CI=true. Every wait is bounded; nothing is timed."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

from keyway_client import KeywayError, Owner, ShardMapClient, shard_for
from keyway_process import CountingProxy, Keyway, topology_text, write_topology

SHARDS = 64
NODES = [("gpu-a", 7001, 10.0), ("gpu-b", 7002, 10.0), ("gpu-c", 7003, 10.0)]


def eventually(what: str, cond: Callable[[], bool], timeout: float = 20.0) -> None:
    """Waits, bounded, until cond() holds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def topology(tmp_path: Path) -> Path:
    path = tmp_path / "topology.yaml"
    write_topology(path, topology_text(SHARDS, NODES))
    return path


@pytest.fixture
def keyway(topology: Path) -> Iterator[Keyway]:
    k = Keyway(topology)
    yield k
    k.stop()


@pytest.fixture
def proxy(keyway: Keyway) -> Iterator[CountingProxy]:
    p = CountingProxy(("127.0.0.1", keyway.http_port))
    yield p
    p.close()


def test_first_map_matches_keyway(keyway: Keyway) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(keyway.url + "/v1/shardmap", timeout=10) as res:
        body = json.load(res)
    with ShardMapClient.connect(keyway.url) as client:
        assert client.version == body["version"]
        assert client.shard_count == SHARDS
        addresses = {e["id"]: Owner(e["id"], e["address"], e["port"]) for e in body["endpoints"]}
        for s in body["shards"]:
            assert client.owners_of_shard(s["shard"]) == tuple(addresses[i] for i in s["owners"])
        key = "{user:42}:cart"
        assert client.shard_for(key) == shard_for(key, SHARDS)
        assert client.owners(key) == client.owners_of_shard(shard_for(key, SHARDS))
        assert client.readers(key) == 1
        assert client.pick(key) == client.owners(key)[0]
        assert client.last_error is None


def test_topology_edit_is_seen_by_polling_and_unchanged_version_is_a_304(keyway: Keyway, proxy: CountingProxy, topology: Path) -> None:
    updates: List[str] = []
    with ShardMapClient.connect(proxy.url, poll_interval=0.05, on_update=lambda c: updates.append(c.version or "")) as client:
        first = client.version
        # Polls hit /readyz only: the map is not fetched again while the version stays.
        eventually("5 polls", lambda: len(proxy.requests("/readyz")) >= 5)
        assert proxy.requests("/v1/shardmap") == [(None, 200)]
        # refresh() with the same map: If-None-Match names the held ETag, keyway answers 304, the map stays.
        assert client.refresh() is False
        inm, status = proxy.requests("/v1/shardmap")[-1]
        assert status == 304 and inm is not None and inm.startswith('W/"')
        assert client.version == first and updates == []

        # A topology edit: a fourth node. Polling sees the version change and fetches the map once.
        write_topology(topology, topology_text(SHARDS, NODES + [("gpu-d", 7004, 10.0)]))
        eventually("the new version", lambda: client.version != first)
        assert updates == [client.version]
        owners = {o.id for s in range(SHARDS) for o in client.owners_of_shard(s)}
        assert "gpu-d" in owners
        fetches = proxy.requests("/v1/shardmap")
        assert fetches[-1][1] == 200 and fetches[-1][0] is not None, "the new map fetched with If-None-Match"
        assert len([f for f in fetches if f[1] == 200]) == 2


def test_keyway_stopped_keeps_the_last_map_and_backs_off(topology: Path) -> None:
    first = Keyway(topology)
    proxy = CountingProxy(("127.0.0.1", first.http_port))
    errors: List[KeywayError] = []
    lock = threading.Lock()

    def on_error(err: KeywayError) -> None:
        with lock:
            errors.append(err)

    try:
        client = ShardMapClient.connect(proxy.url, poll_interval=0.02, max_backoff=0.16, timeout=2.0, on_error=on_error)
        with client:
            version = client.version
            owners = [client.owners_of_shard(s) for s in range(SHARDS)]
            first.stop()
            proxy.upstream = None  # keyway is gone: connections are cut without an answer
            eventually("4 failed polls", lambda: client._failures >= 4)
            with lock:
                assert errors and all(e.code == "KEYWAY_UNAVAILABLE" for e in errors)
                assert "readyz" in errors[0].message
            assert client.last_error is not None and client.last_error.code == "KEYWAY_UNAVAILABLE"
            # The last good map is kept and still answers.
            assert client.version == version
            assert [client.owners_of_shard(s) for s in range(SHARDS)] == owners
            with pytest.raises(KeywayError) as refused:
                client.refresh()
            assert refused.value.code == "KEYWAY_UNAVAILABLE"
            # Backoff: the failed polls came no faster than the doubling allows; the delay is capped
            # (poll_delay's rule is pinned in test_shard_map_client_unit.py). Each failure is one poll.
            failed = [s for _, s in proxy.requests("/readyz") if s == 0]
            assert len(failed) >= 4

            # keyway back (a restart, a new port behind the same address): the next poll recovers.
            second = Keyway(topology)
            try:
                proxy.upstream = ("127.0.0.1", second.http_port)
                eventually("a good poll", lambda: client.last_error is None and client._failures == 0)
                assert client.version == version, "same topology, same version: no new map"
            finally:
                second.stop()
    finally:
        first.stop()
        proxy.close()


def test_token_required(tmp_path: Path, topology: Path) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text("s3cret-token\n")
    token_file.chmod(0o600)
    k = Keyway(topology, ["--admin-token-file", str(token_file)])
    try:
        with pytest.raises(KeywayError) as missing:
            ShardMapClient.connect(k.url)
        assert missing.value.code == "UNAUTHENTICATED"
        with pytest.raises(KeywayError) as wrong:
            ShardMapClient.connect(k.url, token="wrong")
        assert wrong.value.code == "UNAUTHENTICATED"
        with ShardMapClient.connect(k.url, token="s3cret-token", poll_interval=0) as client:
            version = client.version
            assert version is not None
            client.set_token("rotated-elsewhere")
            with pytest.raises(KeywayError) as refused:
                client.refresh()
            assert refused.value.code == "UNAUTHENTICATED"
            assert client.version == version, "the last good map stays"
            client.set_token("s3cret-token")
            assert client.refresh() is False and client.last_error is None
    finally:
        k.stop()
