package shardmap

import (
	"fmt"
	"strings"
	"testing"
)

// keywayBody is a /v1/shardmap body as keyway sends it: S shards over 8 endpoints, each shard
// listing one of a few owner lists (2 owners), every 97th read by 2 of 3 owners.
func keywayBody(S int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"version":"v1","shardCount":%d,"replicas":2,"shards":[`, S)
	for s := 0; s < S; s++ {
		if s > 0 {
			b.WriteByte(',')
		}
		a, c := s%8, (s/8+1+s%8)%8
		if a == c {
			c = (c + 1) % 8
		}
		if s%97 == 0 {
			fmt.Fprintf(&b, `{"shard":%d,"owners":["gpu-%d","gpu-%d","gpu-%d"],"readers":2}`, s, a, c, (c+1)%8)
		} else {
			fmt.Fprintf(&b, `{"shard":%d,"owners":["gpu-%d","gpu-%d"]}`, s, a, c)
		}
	}
	b.WriteString(`],"endpoints":[`)
	for i := 0; i < 8; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"gpu-%d","address":"127.0.0.1","port":%d,"locality":{"region":"r","zone":"z","subzone":"s%d"},"weight":80,"ready":true,"draining":false}`, i, 7001+i, i/2)
	}
	b.WriteString(`],"updatedAt":"2026-12-08T01:00:00.000Z","versionSince":"2026-12-08T01:00:00.000Z"}`)
	return []byte(b.String())
}

// Each distinct owner list is parsed once, not once per shard: decoding keyway's map at S = 4096
// costs a bounded number of allocations per shard (11.5 here). Parsing and re-encoding every
// shard's ids (26 a shard) made decoding a map at S = 65536 about 1.6 times as long as before
// the owner checks were added.
func TestDecodeParsesEachOwnerListOnce(t *testing.T) {
	const S = 4096
	raw := keywayBody(S)
	m, err := decodeMap(raw, "u", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := m.OwnersOfShard(97); len(got) != 3 {
		t.Fatalf("shard 97: %d owners, want 3", len(got))
	}
	allocs := testing.AllocsPerRun(3, func() {
		if _, err := decodeMap(raw, "u", ""); err != nil {
			t.Fatal(err)
		}
	})
	perShard := allocs / S
	t.Logf("%.1f allocations per shard", perShard)
	if perShard > 14 {
		t.Errorf("%.1f allocations per shard, want at most 14", perShard)
	}
}
