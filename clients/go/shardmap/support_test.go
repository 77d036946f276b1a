package shardmap

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scripted is a stand-in for keyway on 127.0.0.1: route gives each answer; requests are recorded.
type scripted struct {
	*httptest.Server
	mu       sync.Mutex
	requests []seen
}

// seen is one request as the server got it.
type seen struct {
	Path, IfNoneMatch, Authorization, Connection, Remote string
	Close                                                bool
}

// replicas is keyway's replicas behind one address, serving one map (`body`, its ETag `tag`) at a
// time and answering 304 to a request that names its tag; serve switches what they serve.
func replicas(t *testing.T, body map[string]any, tag string) (*scripted, func(body map[string]any, tag string)) {
	var mu sync.Mutex
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b, tg := body, tag
		mu.Unlock()
		for _, named := range strings.Split(r.Header.Get("If-None-Match"), ",") {
			if strings.TrimSpace(named) == tg {
				w.Header().Set("ETag", tg)
				w.WriteHeader(304)
				return
			}
		}
		writeJSON(w, 200, b, tg)
	})
	return s, func(b map[string]any, tg string) {
		mu.Lock()
		body, tag = b, tg
		mu.Unlock()
	}
}

// versioned is keyway answering /readyz and the map at the version the test stores ("v1" first;
// versions "v1" to "v9", each later than the one before).
func versioned(t *testing.T) (*scripted, *atomic.Value) {
	var version atomic.Value
	version.Store("v1")
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		v := version.Load().(string)
		if r.URL.Path == "/readyz" {
			writeJSON(w, 200, map[string]any{"ready": true, "version": v}, "")
			return
		}
		writeJSON(w, 200, smallMap(v, "2026-01-01T00:00:0"+v[1:]+".000Z", "a"), "")
	})
	return s, &version
}

func newScripted(t *testing.T, route http.HandlerFunc) *scripted {
	t.Helper()
	s := &scripted{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, seen{r.URL.Path, r.Header.Get("If-None-Match"), r.Header.Get("Authorization"), r.Header.Get("Connection"), r.RemoteAddr, r.Close})
		s.mu.Unlock()
		route(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scripted) seen() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.requests...)
}

func (s *scripted) count(path string) int {
	n := 0
	for _, r := range s.seen() {
		if r.Path == path {
			n++
		}
	}
	return n
}

func writeJSON(w http.ResponseWriter, status int, body any, etag string) {
	raw, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

func smallMap(version, since, owner string) map[string]any {
	return map[string]any{
		"version":      version,
		"shardCount":   2,
		"shards":       []any{map[string]any{"shard": 0, "owners": []string{owner}}, map[string]any{"shard": 1, "owners": []string{owner}}},
		"endpoints":    []any{map[string]any{"id": owner, "address": "10.0.0.1", "port": 7000, "weight": 1}},
		"versionSince": since,
	}
}

// eventually waits, bounded, until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// errs collects errors from OnError, safe from the callback goroutines.
type errs struct {
	mu   sync.Mutex
	list []*KeywayError
}

func (e *errs) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, err.(*KeywayError))
}

func (e *errs) all() []*KeywayError {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*KeywayError(nil), e.list...)
}

func codeOf(t *testing.T, err error) *KeywayError {
	t.Helper()
	ke, ok := err.(*KeywayError)
	if !ok {
		t.Fatalf("want a *KeywayError, got %T %v", err, err)
	}
	return ke
}

// setLimit lowers a package limit for one test and puts it back.
func setLimit[T any](t *testing.T, v *T, to T) {
	old := *v
	*v = to
	t.Cleanup(func() { *v = old })
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
