package shardpicker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	keyway "github.com/keyway/keyway/clients/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
)

// A real grpc-go channel with the policy in its service config (what grpc-go's xDS client builds
// from keyway's CDS) and real gRPC servers; a manual resolver plays EDS.
type channelFixture struct {
	t        *testing.T
	r        *manual.Resolver
	conn     *grpc.ClientConn
	probe    *xdsProbe // calls go through this client process instead of conn
	backends []*backend
	wait     time.Duration // bound of until; 10 s when 0
}

func newChannelFixture(t *testing.T, n int) *channelFixture {
	f := &channelFixture{t: t, r: manual.NewBuilderWithScheme("keyway-test")}
	for i := range n {
		f.backends = append(f.backends, startBackend(t, fmt.Sprintf("node-%d", i)))
	}
	return f
}

func (f *channelFixture) addrs() []string {
	out := make([]string, len(f.backends))
	for i, b := range f.backends {
		out[i] = b.addr
	}
	return out
}

// push gives the dialed channel a config and the endpoints it lists (all of them unless eds says which).
func (f *channelFixture) push(cfg []byte, eds ...string) {
	f.t.Helper()
	if eds == nil {
		eds = f.addrs()
	}
	var eps []resolver.Endpoint
	for _, a := range eds {
		eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
	}
	sc := `{"loadBalancingConfig": [{"` + Name + `": ` + string(cfg) + `}]}`
	st := resolver.State{Endpoints: eps, ServiceConfig: f.r.CC().ParseServiceConfig(sc)}
	if st.ServiceConfig.Err != nil {
		f.t.Fatal(st.ServiceConfig.Err)
	}
	f.r.UpdateState(st)
}

func (f *channelFixture) dial(cfg []byte) {
	f.t.Helper()
	sc := `{"loadBalancingConfig": [{"` + Name + `": ` + string(cfg) + `}]}`
	var eps []resolver.Endpoint
	for _, a := range f.addrs() {
		eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
	}
	f.r.InitialState(resolver.State{Endpoints: eps})
	conn, err := grpc.NewClient(f.r.Scheme()+":///cache", grpc.WithResolvers(f.r), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(sc))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = conn.Close() })
	f.conn = conn
	conn.Connect()
}

// call makes one call carrying md (fail-fast unless waitForReady); the answer is the name of the
// server that took it.
func (f *channelFixture) call(timeout time.Duration, md []string, waitForReady bool) (string, error) {
	if f.probe != nil {
		return f.probe.call(timeout, md, waitForReady)
	}
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), metadata.Pairs(md...)), timeout)
	defer cancel()
	return who(ctx, f.conn, grpc.WaitForReady(waitForReady))
}

// until calls with md until three answers in a row come from want (the channel converges on
// connection states and pushed configs), within f.wait.
func (f *channelFixture) until(want string, md ...string) {
	f.t.Helper()
	wait := f.wait
	if wait == 0 {
		wait = 10 * time.Second
	}
	deadline := time.Now().Add(wait)
	var got string
	var err error
	for time.Now().Before(deadline) {
		inARow := 0
		for inARow < 3 {
			got, err = f.call(2*time.Second, md, true)
			if err != nil || got != want {
				break
			}
			inARow++
		}
		if inARow == 3 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("%v: want 3 answers in a row from %s, last got %q, %v", md, want, got, err)
}

func TestChannelRoutesEveryShardToItsPrimaryAndFailsOver(t *testing.T) {
	f := newChannelFixture(t, 4)
	const shards = 12
	owners := make([][]int, shards)
	for s := range owners {
		owners[s] = []int{s % 4, (s + 1) % 4}
	}
	cfg := configJSON(t, "x-cache-key", "reject", f.addrs(), 2, owners)
	f.dial(cfg)

	for s := range shards {
		f.until(f.backends[owners[s][0]].name, "x-cache-shard", strconv.Itoa(s))
	}
	// The key header is hashed by hash contract 1.
	for _, key := range []string{"a", "{user:42}:cart", "user:1000"} {
		s := keyway.ShardFor(key, shards)
		f.until(f.backends[owners[s][0]].name, "x-cache-key", key)
	}

	// node-0 dies: its shards go to their replicas, the others stay.
	f.backends[0].stop()
	for s := range shards {
		want := owners[s][0]
		if want == 0 {
			want = owners[s][1]
		}
		f.until(f.backends[want].name, "x-cache-shard", strconv.Itoa(s))
	}
	// It comes back: the primary again.
	if err := f.backends[0].start(); err != nil {
		t.Fatal(err)
	}
	f.until("node-0", "x-cache-shard", "0")

	// A new table (ownership change): shard s now on (s+2)%4 first.
	for s := range owners {
		owners[s] = []int{(s + 2) % 4, (s + 3) % 4}
	}
	f.push(configJSON(t, "x-cache-key", "reject", f.addrs(), 2, owners))
	for s := range shards {
		f.until(f.backends[owners[s][0]].name, "x-cache-shard", strconv.Itoa(s))
	}
}

func TestChannelErrors(t *testing.T) {
	f := newChannelFixture(t, 2)
	owners := [][]int{{0}, {1}, {}}
	f.dial(configJSON(t, "", "reject", f.addrs(), 1, owners))
	f.until("node-0", "x-cache-shard", "0")
	f.until("node-1", "x-cache-shard", "1")

	// grpc-go lets a policy end a call only with codes gRFC A54 allows: it reports INVALID_ARGUMENT
	// as INTERNAL and keeps the message.
	_, err := f.call(time.Second, []string{"x-cache-shard", "7"}, false)
	if st, _ := status.FromError(err); st.Code() != codes.Internal || !strings.Contains(st.Message(), "InvalidArgument") || !strings.Contains(st.Message(), `x-cache-shard is "7", not a shard number in [0, 3)`) {
		t.Fatalf("bad shard: %v", err)
	}
	_, err = f.call(time.Second, nil, false)
	if st, _ := status.FromError(err); st.Code() != codes.Internal || !strings.Contains(st.Message(), "no x-cache-shard metadata") {
		t.Fatalf("no shard, reject: %v", err)
	}
	// An unowned shard: UNAVAILABLE for a fail-fast call.
	_, err = f.call(time.Second, []string{"x-cache-shard", "2"}, false)
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable || st.Message() != "shard 2 has no owner" {
		t.Fatalf("unowned: %v", err)
	}

	// node-1 down: a fail-fast call for shard 1 fails UNAVAILABLE once pick_first gives up on it...
	f.backends[1].stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = f.call(time.Second, []string{"x-cache-shard", "1"}, false)
		if st, _ := status.FromError(err); st.Code() == codes.Unavailable && st.Message() == "no owner of shard 1 is reachable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("owner down: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ...while a wait-for-ready call waits and lands when node-1 is back.
	done := make(chan error, 1)
	go func() {
		got, err := f.call(15*time.Second, []string{"x-cache-shard", "1"}, true)
		if err == nil && got != "node-1" {
			err = fmt.Errorf("answered by %s", got)
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the wait-for-ready call ended while its owner was down: %v", err)
	default:
	}
	if err := f.backends[1].start(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("wait-for-ready: %v", err)
	}
	// Shard 0 was never affected.
	f.until("node-0", "x-cache-shard", "0")
}

func TestChannelEndpointOnlyInConfig(t *testing.T) {
	// The config names node-1 first for shard 0, but EDS does not list it (yet): node-0, the replica,
	// takes the calls; when EDS lists node-1 it becomes the one.
	f := newChannelFixture(t, 2)
	cfg := configJSON(t, "", "any", f.addrs(), 2, [][]int{{1, 0}, {1}})
	f.dial(cfg)
	f.push(cfg, f.backends[0].addr)
	f.until("node-0", "x-cache-shard", "0")
	// Shard 1's only owner is not in EDS: a fail-fast call waits for it rather than failing, and
	// lands when EDS lists it.
	done := make(chan error, 1)
	go func() {
		got, err := f.call(10*time.Second, []string{"x-cache-shard", "1"}, false)
		if err == nil && got != "node-1" {
			err = fmt.Errorf("answered by %s", got)
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the call ended before its owner was in EDS: %v", err)
	default:
	}
	f.push(cfg)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.until("node-1", "x-cache-shard", "0")
}

// failsWith makes fail-fast calls for md until one ends UNAVAILABLE with want (the channel applies
// pushes asynchronously), each bounded by a short deadline so that a queued call shows as a miss.
func (f *channelFixture) failsWith(want string, md ...string) {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		_, err = f.call(300*time.Millisecond, md, false)
		if st, _ := status.FromError(err); st.Code() == codes.Unavailable && st.Message() == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("%v: want UNAVAILABLE %q, last got %v", md, want, err)
}

func TestChannelNoEndpointsFailsFast(t *testing.T) {
	// EDS lists no endpoint (grpc-go gives the policy none when the ClusterLoadAssignment is empty
	// or gone) while CDS still names owners: nothing is connecting, so a fail-fast call fails at
	// once, naming why, instead of queueing to its deadline.
	f := newChannelFixture(t, 2)
	cfg := configJSON(t, "", "any", f.addrs(), 1, [][]int{{0}, {1}})
	f.dial(cfg)
	f.until("node-0", "x-cache-shard", "0")
	f.push(cfg, []string{}...)
	f.failsWith("no owner of shard 0 is reachable: the cluster has no endpoints", "x-cache-shard", "0")
	f.failsWith("no endpoint is reachable: the cluster has no endpoints")
	// A resolver error (an EDS resource that went away) is named too.
	f.r.CC().ReportError(errors.New("eds: keyway-shards does not exist"))
	f.failsWith("no owner of shard 1 is reachable: the cluster has no endpoints (name resolver error: eds: keyway-shards does not exist)", "x-cache-shard", "1")

	// A wait-for-ready call still waits, and lands when EDS lists the owner again.
	done := make(chan error, 1)
	go func() {
		got, err := f.call(10*time.Second, []string{"x-cache-shard", "1"}, true)
		if err == nil && got != "node-1" {
			err = fmt.Errorf("answered by %s", got)
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	f.push(cfg)
	if err := <-done; err != nil {
		t.Fatalf("wait-for-ready: %v", err)
	}
	f.until("node-0", "x-cache-shard", "0")
}
