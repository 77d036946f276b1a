package shardmap

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// Maps the TypeScript client refuses (decodeShardMap of keyway/client) are refused here too: the
// last good map stays in use and the error names the field.
func TestMapsTheTypeScriptClientRefusesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		// encoding/json reads a null number as 0, which would have been a weight of 0 (a
		// load-balancing weight of 1) instead of a refusal.
		{"null weight", `{"version":"v2","shardCount":1,"shards":[{"shard":0,"owners":["a"]}],"endpoints":[{"id":"a","address":"x","port":1,"weight":null}]}`, "endpoint a: weight null"},
		// A null owner id would have been read as "", the id of the endpoint listed here.
		{"null owner id", `{"version":"v2","shardCount":1,"shards":[{"shard":0,"owners":[null]}],"endpoints":[{"id":"","address":"x","port":1}]}`, "shard 0: unknown owner null"},
		// Past 2^53 - 1 a JSON number names no one integer; JavaScript's Number.isSafeInteger.
		{"readers past 2^53", `{"version":"v2","shardCount":1,"shards":[{"shard":0,"owners":["a"],"readers":9007199254740992}],"endpoints":[{"id":"a","address":"x","port":1}]}`, "shard 0: readers 9007199254740992"},
		// encoding/json matches keys case-insensitively, with Unicode folding; JSON.parse does not.
		{"VERSION", `{"VERSION":"v2","shardCount":1,"shards":[{"shard":0,"owners":["a"]}],"endpoints":[{"id":"a","address":"x","port":1}]}`, "no version"},
		{"ID", `{"version":"v2","shardCount":1,"shards":[{"shard":0,"owners":["a"]}],"endpoints":[{"ID":"a","address":"x","port":1}]}`, "an endpoint without id, address or port"},
		{"long s", `{"version":"v2","shardCount":1,"shards":[{"ſhard":0,"owners":["a"]}],"endpoints":[{"id":"a","address":"x","port":1}]}`, `shard entry {"ſhard":0,"owners":["a"]}`},
		{"Weight", `{"version":"v2","shardCount":1,"shards":[{"shard":0,"owners":["a"]}],"endpoints":[{"id":"a","address":"x","port":1,"weight":-1,"Weight":1}]}`, "endpoint a: weight -1"},
		// A port no one can dial: int() made 1.5 port 1.
		{"fractional port", `{"version":"v2","shardCount":1,"shards":[{"shard":0,"owners":["a"]}],"endpoints":[{"id":"a","address":"x","port":1.5}]}`, "endpoint a: port 1.5"},
		{"port 0", `{"version":"v2","shardCount":1,"shards":[{"shard":0,"owners":["a"]}],"endpoints":[{"id":"a","address":"x","port":0}]}`, "endpoint a: port 0"},
		{"port past 65535", `{"version":"v2","shardCount":1,"shards":[{"shard":0,"owners":["a"]}],"endpoints":[{"id":"a","address":"x","port":65536}]}`, "endpoint a: port 65536"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bad atomic.Bool
			s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
				if bad.Load() {
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(tc.body))
					return
				}
				writeJSON(w, 200, smallMap("v1", "", "a"), "")
			})
			var got errs
			c, _ := New(s.URL, Options{OnError: got.add})
			if _, err := c.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			bad.Store(true)
			changed, err := c.Refresh(context.Background())
			ke := codeOf(t, err)
			if ke.Code != CodeKeywayUnavailable || !strings.HasSuffix(ke.Message, "not a shard map: "+tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
			if changed || c.Version() != "v1" {
				t.Fatalf("the last good map must stay in use, got %q", c.Version())
			}
			if e := got.all(); len(e) != 1 || e[0] != ke || c.LastError() != ke {
				t.Fatalf("OnError and LastError: %v, %v", e, c.LastError())
			}
		})
	}
}

// What the TypeScript client accepts stays accepted: an absent weight is 1, a weight of 0 is the
// load-balancing weight 1, readers up to 2^53 - 1 are capped at the owners listed.
func TestMapsAtTheEdgesOfTheChecksAreTaken(t *testing.T) {
	body := `{"version":"v1","shardCount":1,"shards":[{"shard":0,"owners":["a","b"],"readers":9007199254740991}],"endpoints":[{"id":"a","address":"x","port":1},{"id":"b","address":"y","port":2,"weight":0}]}`
	m, err := decodeMap([]byte(body), "u", "")
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := m.ReadersOfShard(0); k != 2 {
		t.Fatalf("readers capped at the owners listed: %d", k)
	}
	p := m.picks[0]
	if p == nil || len(p.upTo) != 2 || p.upTo[0] != 1 || p.upTo[1] != 2 {
		t.Fatalf("weights: absent is 1, 0 is lbWeight 1: %+v", p)
	}
}

// Keys are read as spelled, as JSON.parse reads them: a key in other letter case is an unknown
// field (ignored), an escape that spells a key exactly is that key, and a value that looks like a
// key (an owner id "Shard") is a value.
func TestMapKeysAreReadAsSpelled(t *testing.T) {
	body := `{"\u0076ersion":"v1","shardCount":1,"Shards":[],"shards":[{"shard":0,"owners":["Shard","b"],"readers":2,"Readers":1}],` +
		`"endpoints":[{"id":"Shard","address":"x","port":1,"Ready":false,"ready":true},{"id":"b","address":"y","port":2,"Ready":false,"weight":3}]}`
	m, err := decodeMap([]byte(body), "u", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != "v1" {
		t.Fatalf("version %q", m.Version())
	}
	// Both owners serve ("Ready": false is no field of the map) and read the shard, weighted 1
	// (no weight) and 300 (weight 3).
	p := m.picks[0]
	if p == nil || p.readers != 2 || len(p.owners) != 2 || p.owners[0].ID != "Shard" || p.upTo[0] != 1 || p.upTo[1] != 301 {
		t.Fatalf("pick %+v", p)
	}
}
