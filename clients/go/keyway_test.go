package keyway

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The shared vectors, relative to this package: clients/go -> testdata/vectors.
var vectors = filepath.Join("..", "..", "testdata", "vectors")

func load[T any](t *testing.T, name string) []T {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(vectors, name))
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Vectors []T }
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return file.Vectors
}

func TestKeyToShardVectors(t *testing.T) {
	type vector struct {
		Key    string
		Tag    string
		Hash   uint32
		Shards uint32
		Shard  uint32
	}
	vs := load[vector](t, "key-to-shard.json")
	for _, v := range vs {
		if got := HashTag(v.Key); got != v.Tag {
			t.Errorf("HashTag(%q) = %q, want %q", v.Key, got, v.Tag)
		}
		if got := Murmur3x86_32([]byte(v.Tag), 0); got != v.Hash {
			t.Errorf("Murmur3x86_32(%q) = %d, want %d", v.Tag, got, v.Hash)
		}
		if got := ShardFor(v.Key, v.Shards); got != v.Shard {
			t.Errorf("ShardFor(%q, %d) = %d, want %d", v.Key, v.Shards, got, v.Shard)
		}
	}
	t.Logf("%d key-to-shard vectors", len(vs))
}

func TestMurmur3Vectors(t *testing.T) {
	type vector struct {
		InputHex string `json:"input_hex"`
		Seed     uint32
		Hash     uint32
	}
	vs := load[vector](t, "murmur3.json")
	for _, v := range vs {
		data, err := hex.DecodeString(v.InputHex)
		if err != nil {
			t.Fatal(err)
		}
		if got := Murmur3x86_32(data, v.Seed); got != v.Hash {
			t.Errorf("Murmur3x86_32(%s, %d) = %d, want %d", v.InputHex, v.Seed, got, v.Hash)
		}
	}
	t.Logf("%d murmur3 vectors", len(vs))
}

func TestHashTagEdgeCases(t *testing.T) {
	for key, want := range map[string]string{
		"user:1000": "user:1000", "{user1000}.following": "user1000", "foo{}{bar}": "foo{}{bar}",
		"{}x": "{}x", "a{b}{c}": "b", "{{a}}": "{a", "x{y": "x{y", "}{x}": "x", "{": "{", "": "",
	} {
		if got := HashTag(key); got != want {
			t.Errorf("HashTag(%q) = %q, want %q", key, got, want)
		}
	}
	if ShardFor("{user:42}:profile", 1024) != ShardFor("{user:42}:cart", 1024) {
		t.Error("keys with one tag land on different shards")
	}
}

func TestShardForZeroPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("ShardFor(k, 0) did not panic")
		}
	}()
	ShardFor("k", 0)
}

func ExampleShardFor() {
	// Keys that share a {tag} share a shard; send it as x-cache-shard:
	// req.Header.Set(ShardHeader, strconv.FormatUint(uint64(shard), 10))
	fmt.Println(ShardFor("{user:42}:profile", 1024), ShardFor("{user:42}:cart", 1024), ShardFor("user:1000", 1024))
	// Output: 885 885 668
}
