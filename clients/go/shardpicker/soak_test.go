package shardpicker

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/resolver/manual"
)

// connCounter wraps a listener and counts the server-side connections still open.
type connCounter struct {
	net.Listener
	open *atomic.Int64
}

type countedConn struct {
	net.Conn
	once sync.Once
	open *atomic.Int64
}

func (l connCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countedConn{Conn: c, open: l.open}, nil
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// TestSoakPickerChurn: hours of a client's life in minutes. Configs of S from 1024 to 16384 and
// back, R from 1 to 3, EDS lists that grow and shrink, owners that restart, resolver errors, all
// while calls run. Goroutines and the heap after GC must stay flat, the last config must win, and
// a node EDS no longer lists must lose its connection. A measurement: KEYWAY_GO_SOAK=<seconds>.
func TestSoakPickerChurn(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("KEYWAY_GO_SOAK"))
	if secs <= 0 {
		t.Skip("a soak: KEYWAY_GO_SOAK=<seconds> runs it")
	}
	f := &channelFixture{t: t, r: manual.NewBuilderWithScheme("keyway-soak")}
	for i := range 6 {
		b := &backend{name: "node-" + strconv.Itoa(i), addr: "127.0.0.1:0", open: &atomic.Int64{}}
		if err := b.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.stop)
		f.backends = append(f.backends, b)
	}
	addrs := f.addrs()
	rng := rand.New(rand.NewPCG(1, 2))
	randomConfig := func(eps []string) []byte {
		sizes := []int{1024, 2048, 4096, 16384, 8192, 1024}
		s := sizes[rng.IntN(len(sizes))]
		r := 1 + rng.IntN(3)
		owners := make([][]int, s)
		for i := range owners {
			owners[i] = rng.Perm(len(eps))[:min(r, len(eps))]
		}
		return configJSON(t, "x-cache-key", "any", eps, r, owners)
	}
	allTo := func(eps []string, owner int) []byte { // 1024 shards, every one owned by eps[owner]
		owners := make([][]int, 1024)
		for i := range owners {
			owners[i] = []int{owner}
		}
		return configJSON(t, "", "any", eps, 1, owners)
	}
	baseG := runtime.NumGoroutine()
	f.dial(allTo(addrs, 0))
	f.until("node-0", "x-cache-shard", "0")

	load := startCalls(t, f, 6, 100*time.Millisecond, func(i int) ([]string, bool) {
		if i%3 == 1 {
			return []string{"x-cache-key", "key-" + strconv.Itoa(i)}, i%2 == 0
		}
		return []string{"x-cache-shard", strconv.Itoa(i % 1024)}, i%2 == 0
	})
	sample := func() (int, uint64) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapAlloc
	}
	end := time.Now().Add(time.Duration(secs) * time.Second)
	var gs []int
	var heaps []uint64
	for round := 0; time.Now().Before(end); round++ {
		// EDS: a random subset of at least two nodes; the config names them all or that subset.
		eds := rng.Perm(len(addrs))[:2+rng.IntN(len(addrs)-1)]
		var edsAddrs []string
		for _, i := range eds {
			edsAddrs = append(edsAddrs, addrs[i])
		}
		cfgEps := addrs
		if rng.IntN(2) == 0 {
			cfgEps = edsAddrs
		}
		switch rng.IntN(5) {
		case 0:
			f.r.CC().ReportError(context.DeadlineExceeded)
		case 1:
			b := f.backends[rng.IntN(len(f.backends))]
			b.stop()
			time.Sleep(time.Millisecond)
			if err := b.start(); err != nil {
				t.Fatal(err)
			}
		}
		f.push(randomConfig(cfgEps), edsAddrs...)
		time.Sleep(time.Duration(1+rng.IntN(20)) * time.Millisecond)
		if round%100 == 0 {
			g, h := sample()
			gs, heaps = append(gs, g), append(heaps, h)
			t.Logf("round %d: goroutines %d, heap %d KiB, calls %d answered %d", round, g, h>>10, load.calls.Load(), load.answered.Load())
		}
	}
	// The last word: shard 0 to node-2, EDS only node-2 and node-3.
	final := allTo([]string{addrs[2], addrs[3]}, 0)
	f.push(final, addrs[2], addrs[3])
	f.until("node-2", "x-cache-shard", "0")
	load.end()
	deadline := time.Now().Add(10 * time.Second)
	for i, b := range f.backends {
		if i == 2 || i == 3 {
			continue
		}
		for b.open.Load() != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := b.open.Load(); n != 0 {
			t.Errorf("%s: EDS no longer lists it, still %d connections from the client", b.name, n)
		}
	}
	for i := 0; i < 20; i++ {
		if got, err := f.call(2*time.Second, []string{"x-cache-shard", "0"}, true); err != nil || got != "node-2" {
			t.Fatalf("after the last config: %q, %v", got, err)
		}
	}
	g, h := sample()
	t.Logf("end: goroutines %d (before dial %d), heap %d KiB; %d calls, %d answered", g, baseG, h>>10, load.calls.Load(), load.answered.Load())
	if len(gs) > 4 && gs[len(gs)-1] > 2*gs[1]+50 {
		t.Errorf("goroutines grew: %v", gs)
	}
	if len(heaps) > 4 && heaps[len(heaps)-1] > 4*heaps[1]+(32<<20) {
		t.Errorf("heap grew: %v", heaps)
	}
	_ = f.conn.Close()
	deadline = time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseG+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseG+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("after Close: %d goroutines, %d before dial:\n%s", n, baseG, buf[:runtime.Stack(buf, true)])
	}
}

// TestSoakXDSRestarts: a real grpc-go xDS client (a probe process) while keyway restarts on the
// same port, the topology file changes (nodes join and leave, S from 1024 to 16384 and back) and
// nodes restart. The probe's goroutines and heap after GC must stay flat, and calls must follow
// the last map. A measurement: KEYWAY_GO_SOAK=<seconds>.
func TestSoakXDSRestarts(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("KEYWAY_GO_SOAK"))
	if secs <= 0 {
		t.Skip("a soak: KEYWAY_GO_SOAK=<seconds> runs it")
	}
	var backends []*backend
	for i := range 6 {
		backends = append(backends, startBackend(t, "node-"+strconv.Itoa(i)))
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(lis.Addr().(*net.TCPAddr).Port)
	_ = lis.Close()
	topo := t.TempDir() + "/topology.yaml"
	sizes := []int{1024, 4096, 16384, 2048}
	writeTopology(t, topo, sizes[0], backends[:4])
	k, stopK := startKeywayOn(t, topo, port)
	boot, err := Bootstrap(k.xdsAddr, "grpc-go-soak")
	if err != nil {
		t.Fatal(err)
	}
	f := &channelFixture{t: t, probe: startProbe(t, "xds:///keyway-cache", boot), backends: backends, wait: 60 * time.Second}
	byName := map[string]*backend{}
	for _, b := range backends {
		byName[b.name] = b
	}
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(m shardMap) {
		for range 8 {
			s := m.Shards[rng.IntN(len(m.Shards))]
			f.until(s.Owners[0], "x-cache-shard", strconv.Itoa(int(s.Shard)))
		}
	}
	m := k.shardMap(t)
	check(m)
	var gs []int
	var heaps []uint64
	end := time.Now().Add(time.Duration(secs) * time.Second)
	for round := 0; time.Now().Before(end); round++ {
		n := 2 + rng.IntN(len(backends)-1)
		s := sizes[rng.IntN(len(sizes))]
		switch round % 5 {
		case 2: // keyway restarts on the same port: the client's ADS stream resets
			stopK()
			writeTopology(t, topo, s, backends[:n])
			k, stopK = startKeywayOn(t, topo, port)
		case 4: // a node restarts
			b := backends[rng.IntN(n)]
			b.stop()
			if err := b.start(); err != nil {
				t.Fatal(err)
			}
			fallthrough
		default:
			writeTopology(t, topo, s, backends[:n])
		}
		// Wait for keyway to take the file: S shards over exactly the n nodes written.
		deadline := time.Now().Add(30 * time.Second)
		for m = k.shardMap(t); len(m.Shards) != s || ownersIn(m) != n; m = k.shardMap(t) {
			if time.Now().After(deadline) {
				t.Fatalf("keyway did not take S=%d over %d nodes:\n%s", s, n, k.logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		check(m)
		st, err := f.probe.stats()
		if err != nil {
			t.Fatal(err)
		}
		gs, heaps = append(gs, st.Goroutines), append(heaps, st.HeapBytes)
		t.Logf("round %d: S=%d nodes=%d version %s; probe goroutines %d, heap %d KiB", round, len(m.Shards), n, m.Version, st.Goroutines, st.HeapBytes>>10)
	}
	if len(gs) > 6 && gs[len(gs)-1] > 2*gs[2]+50 {
		t.Errorf("probe goroutines grew: %v", gs)
	}
	if len(heaps) > 6 && heaps[len(heaps)-1] > 4*heaps[2]+(32<<20) {
		t.Errorf("probe heap grew: %v", heaps)
	}
}

// ownersIn counts the distinct nodes that own some shard of m.
func ownersIn(m shardMap) int {
	seen := map[string]bool{}
	for _, s := range m.Shards {
		for _, o := range s.Owners {
			seen[o] = true
		}
	}
	return len(seen)
}
