package shardpicker

import (
	"context"
	"errors"
	"strconv"
	"testing"

	keyway "github.com/keyway/keyway/clients/go"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"google.golang.org/grpc/balancer/endpointsharding"
)

// namedSubConn stands for the subchannel of one endpoint; the picker only passes it on.
type namedSubConn struct {
	balancer.SubConn
	addr string
}

// childPicker is what a READY pick_first child answers: its own subchannel.
type childPicker struct{ addr string }

func (c childPicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	return balancer.PickResult{SubConn: namedSubConn{addr: c.addr}}, nil
}

// pickerFor builds the picker the balancer would build for these child states (address -> state;
// an address left out is not in EDS).
func pickerFor(t *testing.T, raw []byte, states map[string]connectivity.State) *shardPicker {
	t.Helper()
	cfg, err := parseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	var children []endpointsharding.ChildState
	for addr, st := range states {
		children = append(children, endpointsharding.ChildState{
			Endpoint: resolver.Endpoint{Addresses: []resolver.Address{{Addr: addr}}},
			State:    balancer.State{ConnectivityState: st, Picker: childPicker{addr}},
		})
	}
	return newShardPicker(cfg, children)
}

// pickWith picks for a call carrying md (key, value pairs); it returns the chosen address.
func pickWith(p *shardPicker, md ...string) (string, error) {
	ctx := metadata.NewOutgoingContext(context.Background(), metadata.Pairs(md...))
	r, err := p.Pick(balancer.PickInfo{FullMethodName: whoMethod, Ctx: ctx})
	if err != nil {
		return "", err
	}
	return r.SubConn.(namedSubConn).addr, nil
}

var (
	epA, epB, epC = "10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000"
	threeEps      = []string{epA, epB, epC}
	// shard 0: A then B; 1: B then C; 2: C then A; 3: no owner; 4: A only.
	threeOwners = [][]int{{0, 1}, {1, 2}, {2, 0}, {}, {0}}
	allReady    = map[string]connectivity.State{epA: connectivity.Ready, epB: connectivity.Ready, epC: connectivity.Ready}
)

func TestPickPrimaryThenReplicaByState(t *testing.T) {
	raw := configJSON(t, "", "reject", threeEps, 2, threeOwners)
	cases := []struct {
		name   string
		states map[string]connectivity.State
		shard  string
		want   string // an address, or "queue"
	}{
		{"primary ready", allReady, "0", epA},
		{"shard 1 primary", allReady, "1", epB},
		{"shard 2 primary", allReady, "2", epC},
		{"primary down, replica ready", map[string]connectivity.State{epA: connectivity.TransientFailure, epB: connectivity.Ready, epC: connectivity.Ready}, "0", epB},
		{"primary connecting, replica ready: the replica", map[string]connectivity.State{epA: connectivity.Connecting, epB: connectivity.Ready}, "0", epB},
		{"primary not in EDS, replica ready", map[string]connectivity.State{epB: connectivity.Ready, epC: connectivity.Ready}, "0", epB},
		{"primary not in EDS yet, replica down: queue", map[string]connectivity.State{epB: connectivity.TransientFailure, epC: connectivity.Ready}, "0", "queue"},
		{"primary connecting, replica down: queue", map[string]connectivity.State{epA: connectivity.Connecting, epB: connectivity.TransientFailure}, "0", "queue"},
		{"replica idle (reconnecting), primary down: queue", map[string]connectivity.State{epA: connectivity.TransientFailure, epB: connectivity.Idle}, "0", "queue"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickWith(pickerFor(t, raw, tc.states), "x-cache-shard", tc.shard)
			if tc.want == "queue" {
				if !errors.Is(err, balancer.ErrNoSubConnAvailable) {
					t.Fatalf("got %q, %v; want the call queued", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestPickUnavailable(t *testing.T) {
	raw := configJSON(t, "", "reject", threeEps, 2, threeOwners)
	down := map[string]connectivity.State{epA: connectivity.TransientFailure, epB: connectivity.TransientFailure, epC: connectivity.Ready}
	_, err := pickWith(pickerFor(t, raw, down), "x-cache-shard", "0")
	// A plain error: grpc-go fails a fail-fast call with UNAVAILABLE and this message, and keeps a
	// wait-for-ready call waiting for a picker that has an owner.
	if err == nil || err.Error() != "no owner of shard 0 is reachable" || isStatus(err) {
		t.Fatalf("got %v", err)
	}
	_, err = pickWith(pickerFor(t, raw, allReady), "x-cache-shard", "3")
	if err == nil || err.Error() != "shard 3 has no owner" || isStatus(err) {
		t.Fatalf("unowned shard: got %v", err)
	}
	// An owner that EDS does not list yet is waited for, as a connecting one.
	_, err = pickWith(pickerFor(t, raw, map[string]connectivity.State{epC: connectivity.Ready}), "x-cache-shard", "4")
	if !errors.Is(err, balancer.ErrNoSubConnAvailable) {
		t.Fatalf("owner not in EDS: got %v, want the call queued", err)
	}
}

func isStatus(err error) bool {
	_, ok := status.FromError(err)
	return ok
}

func TestPickBadShardHeader(t *testing.T) {
	raw := configJSON(t, "", "any", threeEps, 2, threeOwners)
	for _, v := range []string{"5", "-1", "1.0", "0x1", "", " 1", "4294967296", "03", "00", "+1"} {
		_, err := pickWith(pickerFor(t, raw, allReady), "x-cache-shard", v)
		st, _ := status.FromError(err)
		if st.Code() != codes.InvalidArgument || st.Message() != "x-cache-shard is "+strconv.Quote(v)+", not a shard number in [0, 5)" {
			t.Errorf("x-cache-shard %q: got %v", v, err)
		}
	}
}

// A shard or key header sent twice is refused, as Envoy and keyway's endpoint picker refuse it.
func TestPickRepeatedHeader(t *testing.T) {
	raw := configJSON(t, "x-cache-key", "any", threeEps, 2, threeOwners)
	for _, name := range []string{"x-cache-shard", "x-cache-key"} {
		_, err := pickWith(pickerFor(t, raw, allReady), name, "1", name, "2")
		st, _ := status.FromError(err)
		if st.Code() != codes.InvalidArgument || st.Message() != name+" must be sent once, got 2 values" {
			t.Errorf("%s twice: got %v", name, err)
		}
	}
}

func TestPickByKeyHeader(t *testing.T) {
	// 20 shards, shard s owned by endpoint s%3 alone: the address tells the shard the key went to.
	owners := make([][]int, 20)
	for s := range owners {
		owners[s] = []int{s % 3}
	}
	raw := configJSON(t, "x-cache-key", "reject", threeEps, 1, owners)
	p := pickerFor(t, raw, allReady)
	for _, key := range []string{"a", "{user:42}:cart", "user:1000", "café"} {
		got, err := pickWith(p, "x-cache-key", key)
		want := threeEps[keyway.ShardFor(key, 20)%3]
		if err != nil || got != want {
			t.Errorf("key %q: got %q, %v; want %s", key, got, err, want)
		}
	}
	// An explicit shard wins over the key.
	key := "a"
	shard := (keyway.ShardFor(key, 20) + 1) % 20
	got, err := pickWith(p, "x-cache-key", key, "x-cache-shard", strconv.FormatUint(uint64(shard), 10))
	if err != nil || got != threeEps[shard%3] {
		t.Errorf("shard and key: got %q, %v; want %s", got, err, threeEps[shard%3])
	}
}

func TestPickMissingHeader(t *testing.T) {
	reject := pickerFor(t, configJSON(t, "x-cache-key", "reject", threeEps, 2, threeOwners), allReady)
	_, err := pickWith(reject)
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || st.Message() != "the call carries no x-cache-shard or x-cache-key metadata" {
		t.Fatalf("reject: got %v", err)
	}
	noKey := pickerFor(t, configJSON(t, "", "reject", threeEps, 2, threeOwners), allReady)
	// Without a key header in the config, x-cache-key means nothing.
	_, err = pickWith(noKey, "x-cache-key", "a")
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || st.Message() != "the call carries no x-cache-shard metadata" {
		t.Fatalf("reject without key header: got %v", err)
	}

	anyP := pickerFor(t, configJSON(t, "", "any", threeEps, 2, threeOwners), map[string]connectivity.State{epA: connectivity.Ready, epB: connectivity.TransientFailure, epC: connectivity.Ready})
	seen := map[string]int{}
	for range 10 {
		got, err := pickWith(anyP)
		if err != nil {
			t.Fatal(err)
		}
		seen[got]++
	}
	if len(seen) != 2 || seen[epA] != 5 || seen[epC] != 5 {
		t.Fatalf("any: READY endpoints in turn, got %v", seen)
	}
	connecting := pickerFor(t, configJSON(t, "", "any", threeEps, 2, threeOwners), map[string]connectivity.State{epA: connectivity.Connecting, epB: connectivity.TransientFailure})
	if _, err := pickWith(connecting); !errors.Is(err, balancer.ErrNoSubConnAvailable) {
		t.Fatalf("any while connecting: got %v", err)
	}
	down := pickerFor(t, configJSON(t, "", "any", threeEps, 2, threeOwners), map[string]connectivity.State{epA: connectivity.TransientFailure})
	if _, err := pickWith(down); err == nil || err.Error() != "no endpoint is reachable" {
		t.Fatalf("any while all down: got %v", err)
	}
}

func TestPickBeforeConfigQueues(t *testing.T) {
	p := newShardPicker(nil, nil)
	if _, err := pickWith(p, "x-cache-shard", "0"); !errors.Is(err, balancer.ErrNoSubConnAvailable) {
		t.Fatalf("got %v", err)
	}
}

// With no child at all (EDS lists no endpoint), owners missing from EDS are not waited for.
func TestPickNoEndpointsFails(t *testing.T) {
	p := pickerFor(t, configJSON(t, "", "any", threeEps, 2, threeOwners), nil)
	if _, err := pickWith(p, "x-cache-shard", "0"); err == nil || err.Error() != "no owner of shard 0 is reachable: the cluster has no endpoints" || isStatus(err) {
		t.Fatalf("shard: got %v", err)
	}
	if _, err := pickWith(p); err == nil || err.Error() != "no endpoint is reachable: the cluster has no endpoints" {
		t.Fatalf("any: got %v", err)
	}
}
