package shardmap

import (
	"math"
	"strings"
	"testing"
)

// A key given twice is read as JSON.parse reads it (the last value), also when an earlier value
// has the wrong type: such a map is taken as the TypeScript client takes it, and one whose last
// value is wrong is refused.
func TestDuplicateKeysKeepTheLastValue(t *testing.T) {
	body := `{"version":1,"version":"v1","shardCount":"2","shardCount":2,` +
		`"shards":[{"shard":"x","shard":0,"owners":["a","b"],"readers":2},{"shard":1,"owners":5,"owners":["b"]}],` +
		`"endpoints":[{"id":5,"id":"a","address":"x","port":"1","port":1},{"id":"b","address":"y","port":2,"weight":null,"weight":3}]}`
	m, err := decodeMap([]byte(body), "u", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != "v1" || m.ShardCount() != 2 {
		t.Fatalf("version %q, shardCount %d", m.Version(), m.ShardCount())
	}
	p := m.picks[0]
	if p == nil || len(p.owners) != 2 || p.owners[0] != (Owner{ID: "a", Address: "x", Port: 1}) || p.upTo[0] != 1 || p.upTo[1] != 301 {
		t.Fatalf("shard 0's pick %+v", p)
	}
	if owners, _ := m.OwnersOfShard(1); len(owners) != 1 || owners[0].ID != "b" {
		t.Fatalf("shard 1's owners %+v", owners)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"version":"v1","version":1,"shardCount":1,"shards":[{"shard":0,"owners":[]}],"endpoints":[]}`, "not a shard map: no version"},
		{`{"version":"v1","shardCount":1,"shards":[{"shard":0,"shard":"0","owners":[]}],"endpoints":[]}`, `shard entry {"shard":0,"shard":"0","owners":[]}`},
		// Not an object, in the TypeScript client's words.
		{`[]`, "not a shard map: not an object"},
	} {
		if _, err := decodeMap([]byte(tc.body), "u", ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want an error with %q, got %v", tc.body, tc.want, err)
		}
	}
}

// Fields the TypeScript client reads by value, not by type, do not refuse a map when they hold
// another type: only ready false makes an owner not serve (unless draining is true), and a
// versionSince or updatedAt that is no string orders nothing.
func TestFieldsReadByValueTakeAnyType(t *testing.T) {
	body := `{"version":"v1","shardCount":2,"versionSince":5,"updatedAt":{"at":1},` +
		`"shards":[{"shard":0,"owners":["a","b"],"readers":2},{"shard":1,"owners":["c","a"]}],` +
		`"endpoints":[{"id":"a","address":"x","port":1,"ready":"false"},{"id":"b","address":"y","port":2,"ready":0,"draining":"yes"},` +
		`{"id":"c","address":"z","port":3,"ready":false,"draining":1}]}`
	m, err := decodeMap([]byte(body), "u", "")
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(m.since) {
		t.Fatalf("since %v, want none", m.since)
	}
	// a and b serve ("false" and 0 are not false): both read shard 0.
	if p := m.picks[0]; p == nil || len(p.owners) != 2 {
		t.Fatalf("shard 0's pick %+v", p)
	}
	// c does not serve (ready false, draining not true): shard 1 goes to a.
	if o, ok, _ := m.PickForShard(1, func() float64 { return 0 }); !ok || o.ID != "a" {
		t.Fatalf("shard 1's pick %+v", o)
	}
}
