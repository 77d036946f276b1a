package shardpicker

// Native fuzz targets: `go test -run '^$' -fuzz FuzzParseConfig -fuzztime 60s` (one at a time).
// Plain `go test` replays the seeds below and every input kept under testdata/fuzz/.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	keyway "github.com/keyway/keyway/clients/go"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// seedConfig is configJSON without a *testing.T, for f.Add.
func seedConfig(keyHeader, missing string, endpoints []string, replicas int, owners [][]int) []byte {
	raw, err := json.Marshal(map[string]any{
		"shardCount": len(owners), "shardHeader": "x-cache-shard", "keyHeader": keyHeader,
		"missingHeader": missing, "endpoints": endpoints, "owners": encodeOwners(replicas, owners),
	})
	if err != nil {
		panic(err)
	}
	return raw
}

func FuzzParseConfig(f *testing.F) {
	eps := []string{"10.0.0.1:8000", "10.0.0.2:8000", "[fd00::3]:8000"}
	f.Add(seedConfig("x-cache-key", "reject", eps, 2, [][]int{{0, 1}, {2}, {}, {1, 2}}))
	f.Add(seedConfig("", "any", eps, 3, [][]int{{0, 1, 2}, {2}, {}, {1, 0}}))
	hot := seedConfig("x-cache-key", "any", eps, 2, [][]int{{2, 1}, {0, 2}, {1, 0}})
	f.Add(append(hot[:len(hot)-1:len(hot)-1], []byte(`,"readers":[0,2],"weights":[1,2,3]}`)...))
	f.Add([]byte(`{"version":1,"shardCount":8,"shardHeader":"x-cache-shard","keyHeader":"x-cache-key","missingHeader":"any","endpoints":["10.0.1.1:8080","10.0.1.2:8080","10.0.2.1:8080","10.0.2.2:8080"],"owners":"AQACAAAAAgACAAAAAgAAAAEAAgADAAEAAAACAAMAAAA="}`))
	f.Add([]byte(`{"shardCount":1,"shardHeader":"X-Cache-Shard","endpoints":[],"owners":""}`))
	f.Add([]byte(`{"shardCount":2,"shardHeader":"s","endpoints":["::ffff:10.0.0.1:80"],"owners":"AAD//w==","readers":[1,2]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := parseConfig(raw)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		checkConfigInvariants(t, c)
		// grpc-go's xDS balancers write the config back and parse it again: it must survive.
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		c2, err := parseConfig(again)
		if err != nil {
			t.Fatalf("the written config is refused: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c, c2)
		}
		checkPrimaries(t, c)
	})
}

// checkConfigInvariants: what the picker relies on of an accepted config.
func checkConfigInvariants(t *testing.T, c *Config) {
	t.Helper()
	if c.ShardCount < 1 || c.ShardCount > MaxShards || c.ShardHeader == "" || c.ShardHeader != strings.ToLower(c.ShardHeader) {
		t.Fatalf("accepted %+v", c)
	}
	if len(c.Owners) != int(c.ShardCount)*c.Replicas {
		t.Fatalf("%d owner entries for %d shards x %d", len(c.Owners), c.ShardCount, c.Replicas)
	}
	for _, o := range c.Owners {
		if o != NoOwner && int(o) >= len(c.Endpoints) {
			t.Fatalf("owner %d of %d endpoints", o, len(c.Endpoints))
		}
	}
	for s, k := range c.Readers {
		if s >= c.ShardCount || k < 2 || k > c.Replicas {
			t.Fatalf("readers %d: %d", s, k)
		}
	}
	if c.Weights != nil && len(c.Weights) != len(c.Endpoints) {
		t.Fatalf("%d weights for %d endpoints", len(c.Weights), len(c.Endpoints))
	}
	for i, e := range c.Endpoints {
		if c.index[e] != i {
			t.Fatalf("endpoint %q not indexed as %d", e, i)
		}
		if again, ok := canonicalAddr(e); !ok || again != e {
			t.Fatalf("canonical address %q is not canonical: %q %v", e, again, ok)
		}
	}
}

// checkPrimaries picks (every endpoint READY) for a sample of shards: the call goes to the first
// owner in rank order, or fails UNAVAILABLE-like when the shard has none.
func checkPrimaries(t *testing.T, c *Config) {
	t.Helper()
	children := make([]endpointsharding.ChildState, len(c.Endpoints))
	for i, e := range c.Endpoints {
		children[i] = endpointsharding.ChildState{
			Endpoint: resolver.Endpoint{Addresses: []resolver.Address{{Addr: e}}},
			State:    balancer.State{ConnectivityState: connectivity.Ready, Picker: childPicker{e}},
		}
	}
	p := newShardPicker(c, children)
	for _, s := range sampleShards(c.ShardCount) {
		got, err := pickWith(p, c.ShardHeader, strconv.FormatUint(uint64(s), 10))
		owners := c.OwnersOf(s)
		first := -1
		for _, o := range owners {
			if o != NoOwner {
				first = int(o)
				break
			}
		}
		switch {
		case first < 0 && err == nil:
			t.Fatalf("shard %d without owners picked %s", s, got)
		case first >= 0 && err != nil:
			t.Fatalf("shard %d: %v", s, err)
		case first >= 0 && c.Readers[s] == 0 && got != c.Endpoints[first]:
			t.Fatalf("shard %d went to %s, its primary is %s", s, got, c.Endpoints[first])
		case first >= 0 && c.Readers[s] > 0 && !containsOwner(c, owners[:c.Readers[s]], got):
			t.Fatalf("hot shard %d went to %s, not one of its readers %v", s, got, owners[:c.Readers[s]])
		}
	}
}

func containsOwner(c *Config, owners []uint16, addr string) bool {
	for _, o := range owners {
		if o != NoOwner && c.Endpoints[o] == addr {
			return true
		}
	}
	return false
}

// sampleShards: the first and last shards and a stride through the rest, at most about 200.
func sampleShards(n uint32) []uint32 {
	step := max(1, n/128)
	var out []uint32
	for s := uint32(0); s < n; s += step {
		out = append(out, s)
	}
	return append(out, n-1)
}

// grpcGoBootstrap is how grpc-go reads a bootstrap (internal/xds/bootstrap: encoding/json into
// structs, so keys match case-insensitively and the last one wins).
type grpcGoBootstrap struct {
	Node struct {
		ID       string `json:"id"`
		Cluster  string `json:"cluster"`
		Locality struct {
			Region  string `json:"region"`
			Zone    string `json:"zone"`
			SubZone string `json:"sub_zone"`
		} `json:"locality"`
		Metadata *structpb.Struct `json:"metadata"`
	} `json:"node"`
}

func FuzzWithPickerMetadata(f *testing.F) {
	f.Add([]byte(`{"xds_servers":[{"server_uri":"k:18000"}],"node":{"id":"app-1","cluster":"c","locality":{"zone":"z1"},"metadata":{"team":"x"}}}`))
	f.Add([]byte(`{"node":{"id":"a","cluster":null,"locality":null}}`))
	f.Add([]byte(`{"node":{"id":"a","metadata":{"keyway.shard_picker":"v0","n":[1,2,{"x":null}]}}}`))
	f.Add([]byte(`{"node":{"id":""}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"node":{"id":"a","locality":{"region":5}}}`))
	if b, err := Bootstrap("keyway:18000", "app"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := WithPickerMetadata(in)
		var before grpcGoBootstrap
		inErr := json.Unmarshal(in, &before)
		if err != nil {
			// Refused: grpc-go or keyway would refuse it too (a null node.metadata aside, refused
			// with a clear error rather than taken as none).
			// and keys grpc-go matches case-insensitively, refused by name.
			if inErr == nil && before.Node.ID != "" && !strings.Contains(err.Error(), "node.metadata is not a JSON object") && !strings.Contains(err.Error(), "case-insensitively") {
				t.Fatalf("refused a bootstrap grpc-go reads with node id %q: %v", before.Node.ID, err)
			}
			return
		}
		var after grpcGoBootstrap
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("grpc-go refuses the result: %v\n%s", err, out)
		}
		if after.Node.ID == "" {
			t.Fatalf("the result has no node id (keyway refuses the stream): %s", out)
		}
		if v := after.Node.Metadata.GetFields()[MetadataKey].GetStringValue(); v != MetadataValue {
			t.Fatalf("grpc-go reads %s = %q from %s", MetadataKey, v, out)
		}
		if inErr == nil {
			// What grpc-go read from the input is what it reads from the result, the metadata aside.
			if before.Node.ID != after.Node.ID || before.Node.Cluster != after.Node.Cluster || before.Node.Locality != after.Node.Locality {
				t.Fatalf("node changed: %+v -> %+v\n%s\n%s", before.Node, after.Node, in, out)
			}
			for k, v := range before.Node.Metadata.GetFields() {
				if w, ok := after.Node.Metadata.GetFields()[k]; k != MetadataKey && (!ok || !reflect.DeepEqual(v.AsInterface(), w.AsInterface())) {
					t.Fatalf("metadata %q lost: %s -> %s", k, in, out)
				}
			}
		}
		// Idempotent: a bootstrap that already carries the metadata comes back equal.
		again, err := WithPickerMetadata(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("second pass: %v\n%s\n%s", err, out, again)
		}
	})
}

// pickConfigs caches FuzzPick's tables by S and missingHeader (a fuzz worker runs one input at a time).
var pickConfigs = map[[2]any]*Config{}

// FuzzPick: hostile metadata (keys of any bytes, any values, any number of them) against a fixed
// table. The picker must not panic and must answer what the contract says (docs/xds.md "Picking").
func FuzzPick(f *testing.F) {
	f.Add("x-cache-shard", []byte("3"), uint8(1), uint16(8), true)
	f.Add("x-cache-key", []byte("{user:1}.cart"), uint8(1), uint16(16384), true)
	f.Add("x-cache-key", []byte("a\xff\xfe{\x00}"), uint8(2), uint16(7), false)
	f.Add("X-Cache-Shard", []byte("007"), uint8(1), uint16(8), false)
	f.Add("x-cache-shard", []byte("4294967296"), uint8(1), uint16(65535), true)
	f.Add("x-other", []byte(strings.Repeat("k", 1<<16)), uint8(200), uint16(1), false)
	f.Fuzz(func(t *testing.T, key string, value []byte, copies uint8, shards uint16, rejectMissing bool) {
		s := uint32(shards) + 1
		missing := MissingAny
		if rejectMissing {
			missing = MissingReject
		}
		eps := []string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"}
		c := pickConfigs[[2]any{s, missing}]
		if c == nil {
			owners := make([][]int, s)
			for i := range owners {
				owners[i] = []int{i % 3, (i + 1) % 3}
			}
			if s > 2 {
				owners[s-1] = nil // one shard without owners
			}
			var err error
			if c, err = parseConfig(seedConfig("x-cache-key", missing, eps, 2, owners)); err != nil {
				t.Fatal(err)
			}
			if len(pickConfigs) > 64 {
				clear(pickConfigs) // bounded: tables of up to 65536 shards
			}
			pickConfigs[[2]any{s, missing}] = c
		}
		children := []endpointsharding.ChildState{}
		for _, e := range eps {
			children = append(children, endpointsharding.ChildState{
				Endpoint: resolver.Endpoint{Addresses: []resolver.Address{{Addr: e}}},
				State:    balancer.State{ConnectivityState: connectivity.Ready, Picker: childPicker{e}},
			})
		}
		p := newShardPicker(c, children)
		// Values: copies of value, the i-th with i appended, as separate entries of one key.
		md := metadata.MD{}
		for i := 0; i < int(copies%8)+1; i++ {
			v := string(value)
			if i > 0 {
				v += strconv.Itoa(i)
			}
			md[key] = append(md[key], v)
		}
		ctx := metadata.NewOutgoingContext(context.Background(), md)
		r, err := p.Pick(balancer.PickInfo{FullMethodName: whoMethod, Ctx: ctx})
		got := ""
		if err == nil {
			got = r.SubConn.(namedSubConn).addr
		}
		want, wantCode := modelPick(c, strings.ToLower(key), md[key])
		switch {
		case wantCode == codes.OK && err != nil:
			t.Fatalf("%q=%q: %v, want %s", key, md[key], err, want)
		case wantCode == codes.OK && want != "" && got != want:
			t.Fatalf("%q=%q: went to %s, want %s", key, md[key], got, want)
		case wantCode != codes.OK && err == nil:
			t.Fatalf("%q=%q: went to %s, want code %v", key, md[key], got, wantCode)
		case wantCode != codes.OK && wantCode != codes.Unavailable && status.Code(err) != wantCode:
			t.Fatalf("%q=%q: %v, want code %v", key, md[key], err, wantCode)
		}
	})
}

// modelPick is the contract's rule for one metadata key (lower-cased) with values: the owner
// address ("" for any endpoint), or a failing code (Unavailable for a plain picker error).
func modelPick(c *Config, key string, values []string) (string, codes.Code) {
	shard := -1
	switch key {
	case c.ShardHeader:
		if len(values) != 1 || !canonicalShard(values[0], c.ShardCount) {
			return "", codes.InvalidArgument
		}
		n, _ := strconv.Atoi(values[0])
		shard = n
	case c.KeyHeader:
		if len(values) != 1 {
			return "", codes.InvalidArgument
		}
		shard = int(keyway.Murmur3x86_32(keyTag([]byte(values[0])), 0) % c.ShardCount)
	default:
		if c.MissingHeader == MissingReject {
			return "", codes.InvalidArgument
		}
		return "", codes.OK
	}
	for _, o := range c.OwnersOf(uint32(shard)) {
		if o != NoOwner {
			return c.Endpoints[o], codes.OK
		}
	}
	return "", codes.Unavailable
}

// canonicalShard: ^(0|[1-9][0-9]{0,9})$ below S, as the grpc-js picker reads it.
func canonicalShard(v string, s uint32) bool {
	if v == "" || len(v) > 10 || (len(v) > 1 && v[0] == '0') {
		return false
	}
	n := uint64(0)
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
		n = n*10 + uint64(v[i]-'0')
	}
	return n < uint64(s)
}

// keyTag is the tag rule on bytes, written apart from keyway.HashTag.
func keyTag(k []byte) []byte {
	open := bytes.IndexByte(k, '{')
	if open < 0 {
		return k
	}
	close := bytes.IndexByte(k[open+1:], '}')
	if close <= 0 {
		return k
	}
	return k[open+1 : open+1+close]
}
