"""keyway_client as a type checker sees it once installed: the PEP 561 marker that makes mypy and
pyright read its annotations, and annotations that accept what the functions document."""

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import keyway_client

PACKAGE_PARENT = Path(keyway_client.__file__).resolve().parents[1]


def test_py_typed_marker_ships_in_the_package():
    # Without it, `mypy --strict` on any program that imports keyway_client fails with
    # "module is installed, but missing library stubs or py.typed marker".
    assert (Path(keyway_client.__file__).parent / "py.typed").is_file()


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_documented_calls_pass_mypy_strict(tmp_path):
    use = tmp_path / "use.py"
    use.write_text(
        textwrap.dedent(
            """
            import array
            from keyway_client import shard_for, hash_tag, murmur3_x86_32, SHARD_HEADER, KEY_HEADER

            tag: str = hash_tag("{user:42}:cart")
            raw: bytes = hash_tag(b"{user:42}:cart")
            also: bytes = hash_tag(bytearray(b"{user:42}:cart"))
            shards: int = shard_for("{user:42}:cart", 1024) + shard_for(b"k", 8)
            shards += shard_for(bytearray(b"k"), 8) + shard_for(memoryview(b"k"), 8)
            hashed: int = murmur3_x86_32(b"a") + murmur3_x86_32(bytearray(b"a"), 0)
            hashed += murmur3_x86_32(memoryview(b"a")) + murmur3_x86_32(array.array("H", [1]))
            headers = {SHARD_HEADER: str(shards), KEY_HEADER: tag}

            from typing import Optional
            from keyway_client import KeywayError, Owner, ShardMapClient

            def on_error(err: KeywayError) -> None:
                code: str = err.code

            def routed(client: ShardMapClient) -> Optional[str]:
                version: Optional[str] = client.version
                count: Optional[int] = client.shard_count
                owners: tuple[Owner, ...] = client.owners("k") + client.owners_of_shard(0)
                k: int = client.readers(b"k") + client.readers_of_shard(0) + client.shard_for("k")
                chosen: Optional[Owner] = client.pick("k") or client.pick_for_shard(0, lambda: 0.5)
                changed: bool = client.refresh()
                client.set_token(None)
                return None if chosen is None else f"{chosen.address}:{chosen.port}"

            with ShardMapClient.connect("http://keyway:8080", token="t", poll_interval=0.5, on_error=on_error) as c:
                routed(c)
            ShardMapClient("keyway:8080", poll_interval=0).close()
            """
        )
    )
    env = dict(os.environ, MYPYPATH=str(PACKAGE_PARENT))
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(use), str(PACKAGE_PARENT / "keyway_client")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
