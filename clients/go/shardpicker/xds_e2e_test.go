package shardpicker

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	keyway "github.com/keyway/keyway/clients/go"
	"github.com/keyway/keyway/clients/go/internal/keywayproc"
	_ "google.golang.org/grpc/xds" // the xds:/// resolver and grpc-go's xDS client, as an application imports them
)

// keywayServer is `keyway serve` as a user runs it, on ports it picks itself.
type keywayServer struct {
	httpURL string
	xdsAddr string
	logs    *keywayproc.Buffer
}

func startKeyway(t *testing.T, topologyPath string) *keywayServer {
	t.Helper()
	k, _ := startKeywayOn(t, topologyPath, "0")
	return k
}

// startKeywayOn starts keyway with its xDS server on xdsPort ("0": any free port); stop ends it
// (SIGTERM, as a replica that restarts), and the test's cleanup does if stop is not called. The
// endpoint picker is off: its fixed default port would clash with any other keyway on the host.
func startKeywayOn(t *testing.T, topologyPath, xdsPort string) (*keywayServer, func()) {
	t.Helper()
	rec, logs, stop := keywayproc.Serve(t, "--config", topologyPath, "--http-port", "0", "--xds-port", xdsPort, "--ext-proc-port", "off", "--host", "127.0.0.1", "--log-level", "info")
	k := &keywayServer{logs: logs, httpURL: fmt.Sprintf("http://127.0.0.1:%v", rec["httpPort"]), xdsAddr: fmt.Sprintf("127.0.0.1:%v", rec["xdsPort"])}
	return k, stop
}

type shardMap struct {
	Version    string
	ShardCount uint32
	Shards     []struct {
		Shard  uint32
		Owners []string
	}
}

func (k *keywayServer) shardMap(t *testing.T) shardMap {
	t.Helper()
	res, err := http.Get(k.httpURL + "/v1/shardmap")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m shardMap
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeTopology(t *testing.T, path string, shards int, backends []*backend) {
	t.Helper()
	lines := []string{
		"shards: " + strconv.Itoa(shards), "replicas: 2", "spread: none", "service: keyway-cache",
		"xds: {holdOffMs: 10, maxDelayMs: 100}", "routing: {keyHeader: x-cache-key}", "endpoints:",
	}
	for i, b := range backends {
		port := b.addr[strings.LastIndexByte(b.addr, ':')+1:]
		lines = append(lines, "  - id: "+b.name, "    address: 127.0.0.1", "    port: "+port,
			fmt.Sprintf("    locality: {region: r, zone: z%d, subzone: nvl-%d}", i%2, i), "    weight: 10")
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // one change for keyway's watcher, never a half-written file
		t.Fatal(err)
	}
}

// TestXDSThroughKeywayServe: a real grpc-go xDS client (xds:///keyway-cache, bootstrap in
// GRPC_XDS_BOOTSTRAP_CONFIG with the picker's node metadata) against `keyway serve` and Go gRPC
// servers named in the topology file. Every shard reaches the primary /v1/shardmap names, a key
// reaches its shard's primary, a dead primary's shards reach their replica, and after a topology
// change the calls follow the new owners.
func TestXDSThroughKeywayServe(t *testing.T) {
	const shards = 32
	var backends []*backend
	for i := range 4 {
		backends = append(backends, startBackend(t, fmt.Sprintf("node-%d", i)))
	}
	topo := filepath.Join(t.TempDir(), "topology.yaml")
	writeTopology(t, topo, shards, backends)
	k := startKeyway(t, topo)

	boot, err := Bootstrap(k.xdsAddr, "grpc-go-picker-e2e")
	if err != nil {
		t.Fatal(err)
	}
	f := &channelFixture{t: t, probe: startProbe(t, "xds:///keyway-cache", boot), backends: backends}
	byName := map[string]*backend{}
	for _, b := range backends {
		byName[b.name] = b
	}

	m1 := k.shardMap(t)
	if m1.ShardCount != shards || len(m1.Shards) != shards {
		t.Fatalf("shard map: %d shards", len(m1.Shards))
	}
	for _, s := range m1.Shards {
		f.until(s.Owners[0], "x-cache-shard", strconv.Itoa(int(s.Shard)))
	}
	for _, key := range []string{"a", "{user:42}:cart", "user:1000"} {
		f.until(m1.Shards[keyway.ShardFor(key, shards)].Owners[0], "x-cache-key", key)
	}

	// The primary of shard 0 dies: every shard it leads is answered by its replica.
	primary := m1.Shards[0].Owners[0]
	byName[primary].stop()
	for _, s := range m1.Shards {
		want := s.Owners[0]
		if want == primary {
			want = s.Owners[1]
		}
		f.until(want, "x-cache-shard", strconv.Itoa(int(s.Shard)))
	}
	if err := byName[primary].start(); err != nil {
		t.Fatal(err)
	}
	f.until(primary, "x-cache-shard", "0")

	// A topology change: node-3 leaves. keyway pushes a new table; the calls follow it.
	writeTopology(t, topo, shards, backends[:3])
	var m2 shardMap
	deadline := time.Now().Add(20 * time.Second)
	for m2 = k.shardMap(t); m2.Version == m1.Version; m2 = k.shardMap(t) {
		if time.Now().After(deadline) {
			t.Fatalf("keyway did not take the new topology:\n%s", k.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, s := range m2.Shards {
		if s.Owners[0] == "node-3" || (len(s.Owners) > 1 && s.Owners[1] == "node-3") {
			t.Fatalf("shard %d still owned by node-3", s.Shard)
		}
		f.until(s.Owners[0], "x-cache-shard", strconv.Itoa(int(s.Shard)))
	}

	// keyway classed this client as a picker client and served it the one picker cluster, not
	// per-tuple routes (a stock client of this topology subscribes to several clusters).
	var proxies struct {
		Proxies []struct {
			ID         string
			ProxyClass string
			Types      map[string]struct {
				Subscribed struct{ Names []string }
			}
		}
	}
	if err := json.Unmarshal([]byte(k.get(t, "/v1/proxies")), &proxies); err != nil || len(proxies.Proxies) != 1 {
		t.Fatalf("/v1/proxies: %v %+v", err, proxies)
	}
	row := proxies.Proxies[0]
	if !strings.HasSuffix(row.ProxyClass, "|picker") {
		t.Errorf("proxy class %q: keyway did not see the picker metadata", row.ProxyClass)
	}
	for _, kind := range []string{"cluster", "endpoint"} {
		if names := row.Types[kind].Subscribed.Names; len(names) != 1 || names[0] != "keyway-shards" {
			t.Errorf("%s subscriptions %v, want [keyway-shards]", kind, names)
		}
	}
}

// TestXDSKeywayStartsBesideALocalKeyway: another keyway on this host (a developer's, on the
// default ports) holds the endpoint picker's port, 9002; the tests' keyway still starts, instead
// of exiting on EADDRINUSE and failing every end-to-end test.
func TestXDSKeywayStartsBesideALocalKeyway(t *testing.T) {
	if lis, err := net.Listen("tcp", "127.0.0.1:9002"); err == nil { // else it is held already
		t.Cleanup(func() { _ = lis.Close() })
	}
	b := startBackend(t, "node-0")
	topo := filepath.Join(t.TempDir(), "topology.yaml")
	writeTopology(t, topo, 16, []*backend{b})
	if m := startKeyway(t, topo).shardMap(t); len(m.Shards) != 16 {
		t.Fatalf("shard map: %d shards", len(m.Shards))
	}
}

func (k *keywayServer) get(t *testing.T, path string) string {
	t.Helper()
	res, err := http.Get(k.httpURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(res.Body).WriteTo(&b)
	return b.String()
}

// TestXDSNoFailedCallsAcrossJoinAndLeave: fail-fast calls to every shard run without pause while a
// node joins the topology file and then leaves it again; with the picker none fails. (The
// primary of a moved shard that is not connected yet, or not yet in EDS, is passed over for the
// READY owner that stays; a node that leaves is left only once the table no longer names it.)
func TestXDSNoFailedCallsAcrossJoinAndLeave(t *testing.T) {
	const shards = 64
	var backends []*backend
	for i := range 4 {
		backends = append(backends, startBackend(t, fmt.Sprintf("node-%d", i)))
	}
	topo := filepath.Join(t.TempDir(), "topology.yaml")
	writeTopology(t, topo, shards, backends[:3])
	k := startKeyway(t, topo)
	boot, err := Bootstrap(k.xdsAddr, "grpc-go-picker-churn")
	if err != nil {
		t.Fatal(err)
	}
	f := &channelFixture{t: t, probe: startProbe(t, "xds:///keyway-cache", boot), backends: backends}
	m := k.shardMap(t)
	for _, s := range m.Shards {
		f.until(s.Owners[0], "x-cache-shard", strconv.Itoa(int(s.Shard)))
	}

	var mu sync.Mutex
	calls, failures := 0, []string{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				_, err := f.call(2*time.Second, []string{"x-cache-shard", strconv.Itoa(i % shards)}, false)
				mu.Lock()
				calls++
				if err != nil {
					failures = append(failures, fmt.Sprintf("shard %d: %v", i%shards, err))
				}
				mu.Unlock()
			}
		}()
	}
	step := func(nodes []*backend) {
		writeTopology(t, topo, shards, nodes)
		next := k.shardMap(t)
		deadline := time.Now().Add(20 * time.Second)
		for ; next.Version == m.Version; next = k.shardMap(t) {
			if time.Now().After(deadline) {
				t.Fatalf("keyway did not take the new topology:\n%s", k.logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, s := range next.Shards {
			f.until(s.Owners[0], "x-cache-shard", strconv.Itoa(int(s.Shard)))
		}
		m = next
	}
	step(backends)     // node-3 joins
	step(backends[:3]) // and leaves
	close(stop)
	wg.Wait()
	t.Logf("%d fail-fast calls across a join and a leave, %d failed", calls, len(failures))
	if len(failures) > 0 {
		t.Fatalf("%d of %d calls failed, first: %s", len(failures), calls, failures[0])
	}
	if calls < 100 {
		t.Fatalf("only %d calls: the load did not run", calls)
	}
}
