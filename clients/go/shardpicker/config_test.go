package shardpicker

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/balancer"
)

func TestRegisteredUnderTheContractName(t *testing.T) {
	b := balancer.Get("keyway.shard_picker")
	if b == nil {
		t.Fatal("keyway.shard_picker is not in grpc-go's balancer registry")
	}
	if _, ok := b.(balancer.ConfigParser); !ok {
		t.Fatal("the builder does not parse configs")
	}
}

func TestParseConfig(t *testing.T) {
	eps := []string{"10.0.0.1:8000", "10.0.0.2:8000", "[fd00::3]:8000"}
	raw := configJSON(t, "x-cache-key", "reject", eps, 2, [][]int{{0, 1}, {2}, {}, {1, 2}})
	lb, err := builder{}.ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	c := lb.(*Config)
	if c.ShardCount != 4 || c.Replicas != 2 || c.KeyHeader != "x-cache-key" || c.MissingHeader != MissingReject || c.ShardHeader != "x-cache-shard" {
		t.Fatalf("parsed %+v", c)
	}
	want := [][]uint16{{0, 1}, {2, NoOwner}, {NoOwner, NoOwner}, {1, 2}}
	for s, w := range want {
		got := c.OwnersOf(uint32(s))
		if len(got) != 2 || got[0] != w[0] || got[1] != w[1] {
			t.Errorf("shard %d: owners %v, want %v", s, got, w)
		}
	}
	if c.index["[fd00::3]:8000"] != 2 {
		t.Errorf("IPv6 endpoint not indexed: %v", c.index)
	}
}

func TestConfigMarshalsBackToTheContract(t *testing.T) {
	raw := configJSON(t, "x-cache-key", "any", []string{"10.0.0.2:8000", "[fd00::3]:8000", "10.0.0.1:8000"}, 3, [][]int{{0, 1, 2}, {2}, {}, {1, 0}})
	c1, err := parseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(c1)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := parseConfig(again)
	if err != nil {
		t.Fatalf("%v in %s", err, again)
	}
	if !reflect.DeepEqual(c1, c2) {
		t.Fatalf("round trip changed the config:\n%+v\n%+v", c1, c2)
	}
	var m1, m2 map[string]any
	_ = json.Unmarshal(raw, &m1)
	_ = json.Unmarshal(again, &m2)
	if !reflect.DeepEqual(m1, m2) {
		t.Fatalf("JSON differs:\n%s\n%s", raw, again)
	}
}

func TestParseConfigAcceptsUnknownFieldsVersion1AndNoMissingHeader(t *testing.T) {
	var m map[string]any
	_ = json.Unmarshal(configJSON(t, "", "any", []string{"10.0.0.1:1"}, 1, [][]int{{0}}), &m)
	m["version"] = 1
	m["somethingNewer"] = map[string]any{"x": 1}
	delete(m, "missingHeader") // absent: reject, as keyway's TypeScript reader takes it
	raw, _ := json.Marshal(m)
	c, err := parseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.MissingHeader != MissingReject {
		t.Fatalf("missingHeader absent: %q", c.MissingHeader)
	}
}

func TestParseConfigNoEndpointsNoOwners(t *testing.T) {
	c, err := parseConfig([]byte(`{"shardCount": 16, "shardHeader": "x-cache-shard", "keyHeader": "", "missingHeader": "any", "endpoints": [], "owners": ""}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Replicas != 0 || len(c.OwnersOf(15)) != 0 {
		t.Fatalf("replicas %d", c.Replicas)
	}
}

func TestParseConfigRejects(t *testing.T) {
	base := func() map[string]any {
		var m map[string]any
		_ = json.Unmarshal(configJSON(t, "", "any", []string{"10.0.0.1:8000", "10.0.0.2:8000"}, 2, [][]int{{0, 1}, {1, 0}}), &m)
		return m
	}
	cases := []struct {
		name, field string
		edit        func(m map[string]any)
	}{
		{"shardCount a string", "shardCount", func(m map[string]any) { m["shardCount"] = "two" }},
		{"version 2", "version", func(m map[string]any) { m["version"] = 2 }},
		{"no shardCount", "shardCount", func(m map[string]any) { delete(m, "shardCount") }},
		{"shardCount 0", "shardCount", func(m map[string]any) { m["shardCount"] = 0 }},
		{"shardCount too big", "shardCount", func(m map[string]any) { m["shardCount"] = MaxShards + 1 }},
		{"empty shardHeader", "shardHeader", func(m map[string]any) { m["shardHeader"] = "" }},
		{"missingHeader", "missingHeader", func(m map[string]any) { m["missingHeader"] = "drop" }},
		{"host name", "endpoints[1]", func(m map[string]any) { m["endpoints"] = []string{"10.0.0.1:8000", "cache-2:8000"} }},
		{"no endpoints", "endpoints", func(m map[string]any) { delete(m, "endpoints"); m["owners"] = encodeOwners(1, [][]int{{}, {}}) }},
		{"null endpoints", "endpoints", func(m map[string]any) { m["endpoints"] = nil; m["owners"] = "" }},
		{"no port", "endpoints[0]", func(m map[string]any) { m["endpoints"] = []string{"10.0.0.1", "10.0.0.2:8000"} }},
		{"duplicate", "endpoints[1]", func(m map[string]any) { m["endpoints"] = []string{"10.0.0.1:8000", "10.0.0.1:8000"} }},
		{"not base64", "owners", func(m map[string]any) { m["owners"] = "!!" }},
		{"odd table", "owners", func(m map[string]any) { m["owners"] = encodeOwners(1, [][]int{{0}, {1}, {0}}) }},
		{"index past endpoints", "owners", func(m map[string]any) { m["owners"] = encodeOwners(2, [][]int{{0, 1}, {1, 2}}) }},
		// As the TypeScript picker: weights are checked with or without hot shards listed.
		{"bad weights, no readers", "weights", func(m map[string]any) { m["weights"] = []float64{1, 0} }},
		{"weights count, empty readers", "weights", func(m map[string]any) { m["readers"] = []int{}; m["weights"] = []float64{1} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.edit(m)
			raw, _ := json.Marshal(m)
			_, err := parseConfig(raw)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *ConfigError", err)
			}
			if ce.Field != tc.field {
				t.Fatalf("field %q, want %q (%v)", ce.Field, tc.field, err)
			}
			if !strings.HasPrefix(err.Error(), "keyway.shard_picker config: "+tc.field+": ") {
				t.Fatalf("message %q", err)
			}
		})
	}
}

// A value of the wrong JSON type is named by its field, as the other checks name theirs (grpc-go
// puts the error in its NACK, which keyway logs).
func TestParseConfigNamesFieldOfWrongType(t *testing.T) {
	cases := map[string]string{
		`{"shardCount": -1}`:                       "shardCount: must be an integer from 1 to 1048576, got -1",
		`{"shardCount": 2.5}`:                      "shardCount: must be an integer from 1 to 1048576, got 2.5",
		`{"shardCount": "4"}`:                      "shardCount: a JSON string where a number is expected",
		`{"shardCount": 4, "endpoints": "a:1"}`:    "endpoints: a JSON string where a list of strings is expected",
		`{"shardCount": 4, "endpoints": ["a", 5]}`: "endpoints: a JSON number where a string is expected",
		`{"shardCount": 4, "owners": 7}`:           "owners: a JSON number where a string is expected",
		`{"shardCount": 4, "readers": [0, "x"]}`:   "readers: a JSON string where a number is expected",
		`{"version": 1.5}`:                         "version: this client implements version 1, got 1.5",
		`[1]`:                                      "(config): a JSON array where an object is expected",
		`{"shardCount": 4`:                         "(config): not valid JSON: unexpected end of JSON input",
	}
	for raw, want := range cases {
		_, err := parseConfig([]byte(raw))
		var ce *ConfigError
		if !errors.As(err, &ce) || err.Error() != "keyway.shard_picker config: "+want {
			t.Errorf("%s: got %v, want %s", raw, err, want)
		}
	}
}

func TestCanonicalAddr(t *testing.T) {
	cases := map[string]string{
		"10.0.0.1:8000":      "10.0.0.1:8000",
		"[::1]:8000":         "[::1]:8000",
		"::1:8000":           "[::1]:8000",
		"fd00:0::3:80":       "[fd00::3]:80",
		"[fd00:0:0::3]:80":   "[fd00::3]:80",
		"127.000.0.1:8000":   "",
		"10.0.0.1:70000":     "",
		"localhost:8000":     "",
		"10.0.0.1":           "",
		"[10.0.0.1]:8000":    "10.0.0.1:8000",
		"::ffff:10.0.0.1:80": "10.0.0.1:80",
	}
	for in, want := range cases {
		got, ok := canonicalAddr(in)
		if ok != (want != "") || got != want {
			t.Errorf("canonicalAddr(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
