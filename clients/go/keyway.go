// Package keyway implements keyway's hash contract 1, the shard of a cache key
// (docs/clients.md, docs/hashing.md in the keyway repository):
//
//	shard = murmur3_x86_32(utf8(HashTag(key)), seed 0) mod shardCount
//
// Standard library only.
package keyway

import (
	"encoding/binary"
	"math/bits"
	"strings"
)

// ShardHeader is the header (HTTP) or metadata key (gRPC) the proxy routes on: the shard in decimal.
const ShardHeader = "x-cache-shard"

// KeyHeader carries the key itself, for a proxy that computes the shard.
const KeyHeader = "x-cache-key"

// HashTag returns the part of key that is hashed, by Redis Cluster's hash-tag rule: the text
// between the first '{' and the first '}' after it, if that text is not empty; otherwise the
// whole key. "{user:42}:cart" gives "user:42", "{}x" gives "{}x", "{{a}}" gives "{a".
func HashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	close := strings.IndexByte(key[open+1:], '}')
	if close <= 0 { // none, or empty between the braces
		return key
	}
	return key[open+1 : open+1+close]
}

// Murmur3x86_32 is Austin Appleby's MurmurHash3_x86_32 of data.
func Murmur3x86_32(data []byte, seed uint32) uint32 {
	const c1, c2 = 0xcc9e2d51, 0x1b873593
	h := seed
	n := len(data)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := binary.LittleEndian.Uint32(data[i:])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
		h = bits.RotateLeft32(h, 13)
		h = h*5 + 0xe6546b64
	}
	if tail := data[i:]; len(tail) > 0 {
		var k uint32
		for j := len(tail) - 1; j >= 0; j-- {
			k = k<<8 | uint32(tail[j])
		}
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
	}
	h ^= uint32(n)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// ShardFor returns the shard of key in [0, shardCount). Go strings are bytes: the key's bytes are
// hashed as they are, so pass UTF-8 (what Go source and most I/O give). Keys that share a {tag}
// share a shard. It panics when shardCount is 0, like a division by zero.
func ShardFor(key string, shardCount uint32) uint32 {
	if shardCount == 0 {
		panic("keyway: shardCount must be >= 1")
	}
	return Murmur3x86_32([]byte(HashTag(key)), 0) % shardCount
}
