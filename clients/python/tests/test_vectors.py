"""keyway_client against the shared vectors in testdata/vectors (the same files the TypeScript
and Go tests read)."""

import json
from pathlib import Path

import pytest

from keyway_client import hash_tag, murmur3_x86_32, shard_for

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors"


def _load(name):
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))["vectors"]


KEY_VECTORS = _load("key-to-shard.json")
MURMUR_VECTORS = _load("murmur3.json")


@pytest.mark.parametrize("v", KEY_VECTORS, ids=lambda v: f"{v['key']!r}%{v['shards']}")
def test_key_to_shard(v):
    assert hash_tag(v["key"]) == v["tag"]
    assert murmur3_x86_32(v["tag"].encode("utf-8")) == v["hash"]
    assert shard_for(v["key"], v["shards"]) == v["shard"]


@pytest.mark.parametrize("v", MURMUR_VECTORS, ids=lambda v: f"{v['input_hex'][:16]}/{v['seed']}")
def test_murmur3(v):
    assert murmur3_x86_32(bytes.fromhex(v["input_hex"]), v["seed"]) == v["hash"]


@pytest.mark.parametrize(
    "key, tag",
    [
        ("user:1000", "user:1000"),
        ("{user1000}.following", "user1000"),
        ("foo{}{bar}", "foo{}{bar}"),
        ("{}x", "{}x"),
        ("a{b}{c}", "b"),
        ("{{a}}", "{a"),
        ("x{y", "x{y"),
        ("}{x}", "x"),
    ],
)
def test_hash_tag(key, tag):
    assert hash_tag(key) == tag


def test_related_keys_share_a_shard():
    assert shard_for("{user:42}:profile", 1024) == shard_for("{user:42}:cart", 1024) == shard_for("user:42", 1024)


def test_lone_surrogate_hashes_as_replacement_character():
    assert shard_for("a\ud800b", 1 << 20) == shard_for("a\ufffdb", 1 << 20)
    assert shard_for("\ud83d\udd11", 16384) == shard_for("\U0001f511", 16384)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8"])
def test_bad_shard_count(bad):
    with pytest.raises(ValueError):
        shard_for("k", bad)


@pytest.mark.parametrize("v", KEY_VECTORS, ids=lambda v: f"{v['key']!r}%{v['shards']}")
def test_key_as_utf8_bytes(v):
    raw = v["key"].encode("utf-8")
    assert hash_tag(raw) == v["tag"].encode("utf-8")
    assert shard_for(raw, v["shards"]) == shard_for(bytearray(raw), v["shards"]) == v["shard"]


def test_bytes_key_hashed_as_is():
    # Latin-1 "café", not UTF-8: hashed as these bytes, as keyway's Envoy filter and shard pickers do.
    assert shard_for(b"caf\xe9", 16384) == murmur3_x86_32(b"caf\xe9") % 16384
    assert shard_for(b"{caf\xe9}:cart", 16384) == shard_for(memoryview(b"caf\xe9"), 16384)
    assert hash_tag(b"\xff{\xfe}") == b"\xfe"


@pytest.mark.parametrize("bad", [None, 42, ["k"]])
def test_bad_key_type(bad):
    with pytest.raises(TypeError, match="key must be a str or bytes, got"):
        shard_for(bad, 1024)


def test_murmur3_hashes_bytes_of_any_buffer():
    # A buffer of wider items is hashed over its bytes, not over as many bytes as it has items.
    import array

    wide = array.array("H", [0x6261, 0x6463])
    assert murmur3_x86_32(wide) == murmur3_x86_32(memoryview(wide)) == murmur3_x86_32(wide.tobytes())
    assert murmur3_x86_32(bytearray(b"abcd")) == murmur3_x86_32(b"abcd")


@pytest.mark.parametrize("bad", ["", "abcd", None, 42])
def test_murmur3_refuses_what_is_not_bytes(bad):
    # "" hashed to 0 and 42 raised an unrelated len() error; a str is text, not bytes.
    with pytest.raises(TypeError, match="murmur3_x86_32 hashes bytes"):
        murmur3_x86_32(bad)
