"""keyway hash contract 1: the shard of a cache key (docs/clients.md, docs/hashing.md).

    shard = murmur3_x86_32(utf8(hash_tag(key)), seed 0) mod shard_count

Pure Python, no dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, AnyStr, Union, cast, overload

if TYPE_CHECKING:
    # Type checkers take typing_extensions from their bundled typeshed: no runtime dependency.
    from typing_extensions import Buffer

__all__ = ["hash_tag", "murmur3_x86_32", "shard_for", "SHARD_HEADER", "KEY_HEADER"]

SHARD_HEADER = "x-cache-shard"
KEY_HEADER = "x-cache-key"

# A key given as bytes. Narrower than murmur3_x86_32's Buffer: other buffers (array) are a TypeError.
_KeyBytes = Union[bytes, bytearray, memoryview]

_M32 = 0xFFFFFFFF
_C1 = 0xCC9E2D51
_C2 = 0x1B873593


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def murmur3_x86_32(data: Buffer, seed: int = 0) -> int:
    """MurmurHash3_x86_32 (Austin Appleby's reference) of ``data``, as an unsigned 32-bit int.

    ``data`` is bytes-like (``bytes``, ``bytearray``, ``memoryview``, ``array``); a ``str`` is a
    ``TypeError``: encode it first (``shard_for`` does, as UTF-8).
    """
    raw = _as_bytes(data)
    h = seed & _M32
    n = len(raw)
    end = n - n % 4
    for i in range(0, end, 4):
        k = int.from_bytes(raw[i : i + 4], "little")
        k = (_rotl32((k * _C1) & _M32, 15) * _C2) & _M32
        h = _rotl32(h ^ k, 13)
        h = (h * 5 + 0xE6546B64) & _M32
    if n % 4:
        k = int.from_bytes(raw[end:], "little")
        k = (_rotl32((k * _C1) & _M32, 15) * _C2) & _M32
        h ^= k
    h ^= n & _M32  # the length mod 2^32, as the reference's uint32 len
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h


def _as_bytes(data: object) -> bytes:
    # Hashed byte for byte: len() and slices of a memoryview over wider items (array("H"), a
    # numpy view) count items, which hashed a prefix of the bytes; a str has no bytes to hash.
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        raise TypeError("murmur3_x86_32 hashes bytes, got a str: encode it (shard_for hashes a str as UTF-8)")
    try:
        return memoryview(cast("Buffer", data)).tobytes()
    except TypeError:
        raise TypeError(f"murmur3_x86_32 hashes bytes, got {type(data).__name__}") from None


@overload
def hash_tag(key: str) -> str: ...


@overload
def hash_tag(key: _KeyBytes) -> bytes: ...


def hash_tag(key: Union[str, _KeyBytes]) -> Union[str, bytes]:
    """The part of ``key`` that is hashed (Redis Cluster's hash-tag rule).

    The text between the first ``{`` and the first ``}`` after it, if that text is not empty;
    otherwise the whole key. ``"{user:42}:cart"`` -> ``"user:42"``, ``"{}x"`` -> ``"{}x"``,
    ``"{{a}}"`` -> ``"{a"``. A ``bytes`` key gives ``bytes`` (the braces are ASCII).
    """
    text_or_bytes = _str_or_bytes(key)
    if isinstance(text_or_bytes, str):
        return _tag(text_or_bytes, "{", "}")
    return _tag(text_or_bytes, b"{", b"}")


def _tag(key: AnyStr, brace_open: AnyStr, brace_close: AnyStr) -> AnyStr:
    start = key.find(brace_open)
    if start < 0:
        return key
    end = key.find(brace_close, start + 1)
    if end < 0 or end == start + 1:
        return key
    return key[start + 1 : end]


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (from surrogateescape or a JSON "\ud800"): pair what pairs, and encode
        # each lone one as U+FFFD, as JavaScript's TextEncoder does.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode("utf-8")


def _str_or_bytes(key: object) -> Union[str, bytes]:
    # bytearray and memoryview become bytes: a memoryview has no find(), and the tag is sliced from it.
    if isinstance(key, (str, bytes)):
        return key
    if isinstance(key, (bytearray, memoryview)):
        return bytes(key)
    raise TypeError(f"key must be a str or bytes, got {type(key).__name__}")


def shard_for(key: Union[str, _KeyBytes], shard_count: int) -> int:
    """The shard of ``key``, in ``[0, shard_count)``.

    Keys that share a ``{tag}`` share a shard: ``shard_for("{user:42}:profile", S) ==
    shard_for("{user:42}:cart", S)``. A ``str`` is hashed as UTF-8; ``bytes`` (a key as it came off
    the wire, a header value) are hashed as they are, as keyway's data planes hash a key that
    arrives as bytes, so bytes that are not UTF-8 land on the shard the proxy gives them.
    """
    if isinstance(shard_count, bool) or not isinstance(shard_count, int) or shard_count < 1:
        raise ValueError(f"shard_count must be an integer >= 1, got {shard_count!r}")
    tag = hash_tag(key)
    return murmur3_x86_32(_utf8(tag) if isinstance(tag, str) else tag, 0) % shard_count


# The live shard-map client (shard_map_client.py) loads on first use, so a program that only hashes
# keys imports no HTTP or threading code (PEP 562 module __getattr__).
_LAZY = frozenset(
    {"ShardMapClient", "Owner", "KeywayError", "KeywayWarning", "ERROR_CODES", "poll_delay"}
)

if TYPE_CHECKING:
    # "import X as X": re-exported for type checkers (mypy --strict: no implicit re-export).
    from .shard_map_client import ERROR_CODES as ERROR_CODES
    from .shard_map_client import KeywayError as KeywayError
    from .shard_map_client import KeywayWarning as KeywayWarning
    from .shard_map_client import Owner as Owner
    from .shard_map_client import ShardMapClient as ShardMapClient
    from .shard_map_client import poll_delay as poll_delay


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from . import shard_map_client

        return getattr(shard_map_client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
