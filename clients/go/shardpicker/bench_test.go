package shardpicker

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
)

// The policy's own share of the work, at the scale of docs/benchmarks.md "grpc-go shard picker":
// S = 16384, R = 2, 64 endpoints. `go test -run '^$' -bench . ./shardpicker/` in clients/go.

func benchTable(b *testing.B) ([]byte, []endpointsharding.ChildState) {
	const shards, nodes = 16384, 64
	eps := make([]string, nodes)
	var children []endpointsharding.ChildState
	for i := range eps {
		eps[i] = fmt.Sprintf("10.0.%d.%d:8000", i/250, i%250+1)
		children = append(children, endpointsharding.ChildState{
			Endpoint: resolver.Endpoint{Addresses: []resolver.Address{{Addr: eps[i]}}},
			State:    balancer.State{ConnectivityState: connectivity.Ready, Picker: childPicker{eps[i]}},
		})
	}
	owners := make([][]int, shards)
	for s := range owners {
		owners[s] = []int{(s * 7) % nodes, (s*7 + 1) % nodes}
	}
	raw, err := json.Marshal(map[string]any{
		"shardCount": shards, "shardHeader": "x-cache-shard", "keyHeader": "x-cache-key", "missingHeader": "reject",
		"endpoints": eps, "owners": encodeOwners(2, owners),
	})
	if err != nil {
		b.Fatal(err)
	}
	return raw, children
}

// BenchmarkOwnershipChange: what the policy does per CDS update: parse the config, write it back
// and parse it again (grpc-go's xDS balancers pass child configs on as JSON), build the picker.
func BenchmarkOwnershipChange(b *testing.B) {
	raw, children := benchTable(b)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		c, err := parseConfig(raw)
		if err != nil {
			b.Fatal(err)
		}
		again, _ := json.Marshal(c)
		if c, err = parseConfig(again); err != nil {
			b.Fatal(err)
		}
		_ = newShardPicker(c, children)
	}
}

func BenchmarkPick(b *testing.B) {
	raw, children := benchTable(b)
	c, err := parseConfig(raw)
	if err != nil {
		b.Fatal(err)
	}
	p := newShardPicker(c, children)
	for _, tc := range []struct{ name, header string }{{"shard-header", "x-cache-shard"}, {"key-header", "x-cache-key"}} {
		b.Run(tc.name, func(b *testing.B) {
			ctxs := make([]context.Context, 1024)
			for i := range ctxs {
				v := strconv.Itoa(i * 13)
				if tc.header == "x-cache-key" {
					v = fmt.Sprintf("{user:%d}:cart", i)
				}
				ctxs[i] = metadata.AppendToOutgoingContext(context.Background(), tc.header, v)
			}
			i := 0
			for b.Loop() {
				if _, err := p.Pick(balancer.PickInfo{Ctx: ctxs[i%len(ctxs)]}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
