package shardmap

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	keyway "github.com/keyway/keyway/clients/go"
	"github.com/keyway/keyway/clients/go/internal/keywayproc"
)

// startKeyway runs `keyway serve` on 127.0.0.1, ports of its own choosing, and stops it (SIGTERM)
// at the test's end or when stop is called. It returns keyway's REST URL.
func startKeyway(t *testing.T, topology string, extra ...string) (string, func()) {
	t.Helper()
	rec, _, stop := keywayproc.Serve(t, append([]string{"--config", topology, "--http-port", "0", "--xds-port", "0",
		"--ext-proc-port", "off", "--host", "127.0.0.1", "--log-level", "info"}, extra...)...)
	return fmt.Sprintf("http://127.0.0.1:%v", rec["httpPort"]), stop
}

func writeTopology(t *testing.T, path string, shards int, nodes []string) {
	t.Helper()
	lines := []string{fmt.Sprintf("shards: %d", shards), "replicas: 2", "spread: none", "service: keyway-cache", "endpoints:"}
	for i, n := range nodes {
		lines = append(lines, "  - id: "+n, "    address: 127.0.0.1", fmt.Sprintf("    port: %d", 7001+i),
			fmt.Sprintf("    locality: {region: r, zone: z%d, subzone: nvl-%d}", i%2, i), "    weight: 10")
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // one change for keyway's watcher
		t.Fatal(err)
	}
}

// countingProxy forwards to keyway and records each request's path, If-None-Match and status.
type countingProxy struct {
	*httptest.Server
	mu   sync.Mutex
	seen []struct {
		path, ifNoneMatch string
		status            int
	}
}

func newCountingProxy(t *testing.T, upstream string) *countingProxy {
	target, _ := url.Parse(upstream)
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(res *http.Response) error {
		p.mu.Lock()
		p.seen = append(p.seen, struct {
			path, ifNoneMatch string
			status            int
		}{res.Request.URL.Path, res.Request.Header.Get("If-None-Match"), res.StatusCode})
		p.mu.Unlock()
		return nil
	}
	p.Server = httptest.NewServer(rp)
	t.Cleanup(p.Close)
	return p
}

// statuses are the statuses of the requests for path, in order, and the last one's If-None-Match.
func (p *countingProxy) statuses(path string) ([]int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	last := ""
	for _, s := range p.seen {
		if s.path == path {
			out = append(out, s.status)
			last = s.ifNoneMatch
		}
	}
	return out, last
}

// TestAgainstKeywayServe: the first map is /v1/shardmap's, polls while the version stands are
// /readyz only and a Refresh is a 304, a topology edit is seen by polling (one OnUpdate, one 200),
// and keyway stopped leaves the last map in use with KEYWAY_UNAVAILABLE.
func TestAgainstKeywayServe(t *testing.T) {
	const shards = 64
	topology := filepath.Join(t.TempDir(), "topology.yaml")
	writeTopology(t, topology, shards, []string{"gpu-a", "gpu-b", "gpu-c"})
	base, stop := startKeyway(t, topology)
	proxy := newCountingProxy(t, base)

	res, err := http.Get(base + "/v1/shardmap")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Version    string
		ShardCount uint32
		Shards     []struct {
			Shard  uint32
			Owners []string
		}
		Endpoints []struct {
			ID      string
			Address string
			Port    int
		}
	}
	err = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var updates []string
	var got errs
	c, err := New(proxy.URL, Options{PollInterval: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Timeout: 2 * time.Second,
		OnUpdate: func(m *Map) { mu.Lock(); updates = append(updates, m.Version()); mu.Unlock() }, OnError: got.add})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := c.Map()
	if m.Version() != body.Version || m.ShardCount() != shards {
		t.Fatalf("version %q (keyway %q), S %d", m.Version(), body.Version, m.ShardCount())
	}
	addr := map[string]Owner{}
	for _, e := range body.Endpoints {
		addr[e.ID] = Owner{e.ID, e.Address, e.Port}
	}
	for _, s := range body.Shards {
		var want []Owner
		for _, id := range s.Owners {
			want = append(want, addr[id])
		}
		if got, _ := m.OwnersOfShard(s.Shard); !slices.Equal(got, want) {
			t.Fatalf("shard %d: %v, keyway %v", s.Shard, got, want)
		}
	}
	key := "{user:42}:cart"
	if m.ShardFor(key) != keyway.ShardFor(key, shards) || m.Readers(key) != 1 {
		t.Fatal("shard or readers of a key")
	}
	if o, err := c.Pick(key); err != nil || o != m.Owners(key)[0] {
		t.Fatalf("Pick: %v %v", o, err)
	}

	// Polls hit /readyz only while the version stands; a Refresh names the held ETag: a 304.
	eventually(t, "5 polls", func() bool { s, _ := proxy.statuses("/readyz"); return len(s) >= 5 })
	if s, _ := proxy.statuses("/v1/shardmap"); !slices.Equal(s, []int{200}) {
		t.Fatalf("the map was fetched again: %v", s)
	}
	if changed, err := c.Refresh(context.Background()); changed || err != nil {
		t.Fatalf("refresh: %v %v", changed, err)
	}
	if s, inm := proxy.statuses("/v1/shardmap"); !slices.Equal(s, []int{200, 304}) || !strings.HasPrefix(inm, `W/"`) {
		t.Fatalf("not a 304: %v %q", s, inm)
	}

	// A fourth node: polling sees the new version and fetches the map once more.
	first := c.Version()
	writeTopology(t, topology, shards, []string{"gpu-a", "gpu-b", "gpu-c", "gpu-d"})
	eventually(t, "the new version", func() bool { return c.Version() != first })
	mu.Lock()
	if !slices.Equal(updates, []string{c.Version()}) {
		t.Fatalf("updates %v", updates)
	}
	mu.Unlock()
	withD := false
	for s := range uint32(shards) {
		o, _ := c.Map().OwnersOfShard(s)
		withD = withD || slices.ContainsFunc(o, func(o Owner) bool { return o.ID == "gpu-d" })
	}
	if s, _ := proxy.statuses("/v1/shardmap"); !withD || !slices.Equal(s, []int{200, 304, 200}) {
		t.Fatalf("gpu-d owns a shard: %v; fetches %v", withD, s)
	}

	// keyway gone: the last map stays, the polls fail with KEYWAY_UNAVAILABLE.
	version := c.Version()
	stop()
	eventually(t, "3 failed polls", func() bool { return len(got.all()) >= 3 })
	for _, e := range got.all() {
		if e.Code != CodeKeywayUnavailable {
			t.Fatalf("%v", e)
		}
	}
	if c.Version() != version || c.LastError() == nil {
		t.Fatal("the last map is kept, with the error")
	}
}

// TestAgainstKeywayWithAnAdminToken: UNAUTHENTICATED without the token or with a wrong one; with
// it the map; a token rotated elsewhere refused with the map kept; the right one taken again.
func TestAgainstKeywayWithAnAdminToken(t *testing.T) {
	dir := t.TempDir()
	topology := filepath.Join(dir, "topology.yaml")
	writeTopology(t, topology, 16, []string{"gpu-a", "gpu-b"})
	tokenFile := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := startKeyway(t, topology, "--admin-token-file", tokenFile)
	for _, token := range []string{"", "wrong"} {
		c, _ := New(base, Options{Token: token})
		if err := c.Start(context.Background()); codeOf(t, err).Code != CodeUnauthenticated {
			t.Fatalf("token %q: %v", token, err)
		}
	}
	c, _ := New(base, Options{Token: "s3cret-token"})
	if _, err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	version := c.Version()
	_ = c.SetToken("rotated-elsewhere")
	if _, err := c.Refresh(context.Background()); codeOf(t, err).Code != CodeUnauthenticated || c.Version() != version {
		t.Fatalf("%v", err)
	}
	_ = c.SetToken("s3cret-token")
	if changed, err := c.Refresh(context.Background()); changed || err != nil || c.LastError() != nil {
		t.Fatalf("%v %v", changed, err)
	}
}
