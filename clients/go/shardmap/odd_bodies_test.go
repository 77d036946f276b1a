package shardmap

import (
	"context"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// A map body of two shards over the given owner lists and endpoint ids.
func twoLists(first, second string, ids ...string) string {
	var eps []string
	for i, id := range ids {
		eps = append(eps, `{"id":`+jsonText(id)+`,"address":"10.0.0.`+string(rune('1'+i))+`","port":7000}`)
	}
	return `{"version":"v1","shardCount":2,"shards":[{"shard":0,"owners":` + first + `},{"shard":1,"owners":` + second + `}],` +
		`"endpoints":[` + strings.Join(eps, ",") + `]}`
}

// An owner list is never taken for another one that joins alike: keyed by the ids joined with
// "\n", ["a\nb"] got the owners of ["a","b"] once a shard had listed those.
func TestOwnerListsDoNotCollide(t *testing.T) {
	for _, order := range [][2]string{{`["a","b"]`, `["a\nb"]`}, {`["a\nb"]`, `["a","b"]`}} {
		m, err := decodeMap([]byte(twoLists(order[0], order[1], "a\nb", "a", "b")), "u", "")
		if err != nil {
			t.Fatal(err)
		}
		for shard, want := range order {
			owners, _ := m.OwnersOfShard(uint32(shard))
			var got []string
			for _, o := range owners {
				got = append(got, o.ID)
			}
			if jsonText(got) != want {
				t.Errorf("%v: shard %d's owners %s, want %s", order, shard, jsonText(got), want)
			}
		}
	}
}

// A body keyway never sends is refused with the TypeScript client's words (decodeShardMap of
// keyway/client), the value named as JSON.stringify prints it.
func TestOddBodiesAreNamedAsTheTypeScriptClientNamesThem(t *testing.T) {
	const ok = `"shards":[{"shard":0,"owners":["a"]}],"endpoints":[{"id":"a","address":"x","port":1}]`
	for _, tc := range []struct{ body, want string }{
		{`{"version":"v1","shardCount":"3",` + ok + `}`, `shardCount "3"`},
		{`{"version":"v1","shardCount":[],` + ok + `}`, `shardCount []`},
		{`{"version":"v1","shardCount":{},` + ok + `}`, `shardCount {}`},
		{`{"version":"v1",` + ok + `}`, `shardCount undefined`},
		{`{"version":"v1","shardCount":null,` + ok + `}`, `shardCount null`},
		{`{"version":"v1","shardCount":1.5,` + ok + `}`, `shardCount 1.5`},
		{`{"version":"v1","shardCount":2,"shards":"3","endpoints":[]}`, `undefined shards for shardCount 2`},
		{`{"version":"v1","shardCount":2,"shards":null,"endpoints":[]}`, `undefined shards for shardCount 2`},
		{`{"version":"v1","shardCount":2,` + ok + `}`, `1 shards for shardCount 2`},
		{`{"version":1,"shardCount":1,` + ok + `}`, `no version`},
		{`{"version":"v1","shardCount":1,"shards":[{"shard":0,"owners":["a"]}],"endpoints":{}}`, `no endpoints`},
		{`[{"version":"v1"}]`, `not an object`},
		{`null`, `not an object`},
		{twoLists(`["1"]`, `[1]`, "1"), `shard 1: unknown owner 1`},
		{twoLists(`["n1"]`, `[["n1"]]`, "n1"), `shard 1: unknown owner ["n1"]`},
		{twoLists(`[]`, `[null]`, ""), `shard 1: unknown owner null`},
		{twoLists(`["1"]`, `["zz",1]`, "1"), `shard 1: unknown owner "zz"`},
		{twoLists(`["1"]`, `["<&>"]`, "1"), `shard 1: unknown owner "<&>"`},
	} {
		_, err := decodeMap([]byte(tc.body), "u", "")
		if err == nil || !strings.HasSuffix(err.Error(), "not a shard map: "+tc.want) {
			t.Errorf("%s: want %q, got %v", tc.body, tc.want, err)
		}
	}
}

// isoDateMs reads what Date.parse reads of the ISO forms, in whole ms, and nothing else.
func TestISODatesAsJavaScriptReadsThem(t *testing.T) {
	ist := time.FixedZone("IST", 19800)
	// The values node's Date.parse gives under TZ=Asia/Kolkata.
	for text, want := range map[string]float64{
		"2026-12-08T01:00:00.000Z":    1796691600000,
		"2026-12-08T00:59:59.9999Z":   1796691599999,
		"2026-12-08T01:00:00.0004Z":   1796691600000,
		"2026-12-08":                  1796688000000,
		"2026-12":                     1796083200000,
		"2026":                        1767225600000,
		"2026-12-08T01:00Z":           1796691600000,
		"2026-12-08T01:00:00":         1796671800000, // local time
		"2026-12-08T01:00:00.5+0100":  1796688000500,
		"2026-12-08 01:00:00Z":        1796691600000,
		"2026-12-08t01:00:00z":        1796691600000,
		"+002026-12-08T01:00:00.000Z": 1796691600000,
		"2026-02-30T00:00:00Z":        1772409600000,
		"2026-12-08T24:00:00Z":        1796774400000,
	} {
		if got := isoDateMsIn(text, ist); got != want {
			t.Errorf("%q: %v, want %v", text, got, want)
		}
	}
	for _, text := range []string{"2026/12/08", "Dec 8 2026", "0", "2026-1-8", "2026-12-08T01:00:00,5Z", "-000000-01-01T00:00:00Z",
		"2026-12-08T01:00:00+25:00", "2026-13-01", "2026-12-32", "2026-12-08T01:60Z", "2026-12-08T01:00:00.000+00:00[UTC]",
		" 2026-12-08T01:00:00Z", "2026-12-08T01:00:00.Z", "Tue, 08 Dec 2026 01:00:00 GMT", ""} {
		if got := isoDateMsIn(text, ist); !math.IsNaN(got) {
			t.Errorf("%q: %v, want NaN", text, got)
		}
	}
}

// Maps are ordered by whole ms, as the TypeScript client orders them, and by every ISO form it
// reads: with time.RFC3339Nano a map 0.3 µs earlier was refused as older, and one stamped with a
// date alone was taken as ordering nothing.
func TestMapsAreOrderedAsTheTypeScriptClientOrdersThem(t *testing.T) {
	var mu sync.Mutex
	var body map[string]any
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		writeJSON(w, 200, body, "")
	})
	serve := func(b map[string]any) {
		mu.Lock()
		body = b
		mu.Unlock()
	}
	for _, tc := range []struct {
		held, next string
		taken      bool
	}{
		{"2026-12-08T01:00:00.0004Z", "2026-12-08T01:00:00.0001Z", true}, // the same ms
		{"2026-12-08T01:00:00.001Z", "2026-12-08T01:00:00.000Z", false},
		{"2026-12-09T12:00:00.000Z", "2026-12-08", false},
		{"2026-12-09T12:00:00.000Z", "2026-12-08T01:00Z", false},
		{"2026-12-09T12:00:00.000Z", "2026-12-08T01:00:00.000+01:00", false},
		{"2026-12-09T12:00:00.000Z", "2026/12/08", true},
		{"2026-12-09T12:00:00.000Z", "2026-12-10", true},
	} {
		serve(smallMap("v0", tc.held, "a"))
		c, _ := New(s.URL, Options{})
		if _, err := c.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		serve(smallMap("v1", tc.next, "a"))
		changed, err := c.Refresh(context.Background())
		if err != nil || changed != tc.taken {
			t.Errorf("held %s, next %s: taken %v (%v), want %v", tc.held, tc.next, changed, err, tc.taken)
		}
		c.Close()
	}
}
