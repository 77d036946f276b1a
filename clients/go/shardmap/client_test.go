package shardmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyway/keyway/clients/go/internal/keywayproc"
)

// The pick vectors both other clients check (testdata/client/pick.json).
func TestPickVectorsSharedWithTheOtherClients(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "client", "pick.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors struct {
		Shardmap json.RawMessage
		Readers  []int
		Cases    []struct {
			Shard  uint32
			Random float64
			Pick   *string
		}
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(vectors.Shardmap) })
	c, err := New(s.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := c.Refresh(context.Background()); err != nil || !changed {
		t.Fatalf("refresh: %v %v", changed, err)
	}
	m := c.Map()
	if len(vectors.Cases) <= 100 {
		t.Fatalf("only %d cases", len(vectors.Cases))
	}
	for shard, want := range vectors.Readers {
		if got, _ := m.ReadersOfShard(uint32(shard)); got != want {
			t.Errorf("readers of shard %d: got %d, want %d", shard, got, want)
		}
	}
	for _, v := range vectors.Cases {
		o, ok, err := m.PickForShard(v.Shard, func() float64 { return v.Random })
		if err != nil {
			t.Fatal(err)
		}
		got := (*string)(nil)
		if ok {
			got = &o.ID
		}
		if (got == nil) != (v.Pick == nil) || (got != nil && *got != *v.Pick) {
			t.Errorf("shard %d, random %v: got %v, want %v", v.Shard, v.Random, deref(got), deref(v.Pick))
		}
	}
	// NaN (not in JSON) and a random of 1 stay within the readers.
	owners0, _ := m.OwnersOfShard(0)
	if o, _, _ := m.PickForShard(0, func() float64 { return math.NaN() }); o != owners0[2] {
		t.Errorf("NaN: got %v", o)
	}
	owners1, _ := m.OwnersOfShard(1)
	if o, _, _ := m.PickForShard(1, func() float64 { return 1 }); o != owners1[1] {
		t.Errorf("random 1: got %v", o)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<none>"
	}
	return *s
}

func TestPickDrawFollowsWeightsNeverPastK(t *testing.T) {
	body := map[string]any{
		"version": "v", "shardCount": 1,
		"shards": []any{map[string]any{"shard": 0, "owners": []string{"a", "b", "c"}, "readers": 2}},
		"endpoints": []any{
			map[string]any{"id": "a", "address": "10.0.0.1", "port": 7000, "weight": 1},
			map[string]any{"id": "b", "address": "10.0.0.1", "port": 7001, "weight": 3},
			map[string]any{"id": "c", "address": "10.0.0.1", "port": 7002, "weight": 9},
		},
	}
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, body, "") })
	c, _ := New(s.URL, Options{})
	if _, err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	seen := map[string]int{}
	for range 20000 {
		o, _, _ := c.Map().PickForShard(0, rng.Float64)
		seen[o.ID]++
	}
	if len(seen) != 2 || seen["c"] != 0 {
		t.Fatalf("never an owner past k: %v", seen)
	}
	if share := float64(seen["a"]) / 20000; math.Abs(share-0.25) > 0.02 {
		t.Fatalf("a's share %v, want 0.25", share)
	}
	if o, err := c.Pick("any-key"); err != nil || (o.ID != "a" && o.ID != "b") {
		t.Fatalf("Pick: %v %v", o, err)
	}
	if n, _ := c.Readers("any-key"); n != 2 {
		t.Fatalf("Readers: %d", n)
	}
}

func TestOptionsAndNoMapYet(t *testing.T) {
	for _, tc := range []struct {
		url   string
		opts  Options
		field string
	}{
		{"ftp://x", Options{}, "baseURL"},
		{"http://user:pw@x", Options{}, "baseURL"},
		{"http://", Options{}, "baseURL"},
		{"http://x", Options{PollInterval: -1}, "PollInterval"},
		{"http://x", Options{Timeout: -time.Second}, "Timeout"},
		{"http://x", Options{MaxBackoff: -1}, "MaxBackoff"},
		{"http://x", Options{Token: "two words"}, "Token"},
		{"http://x", Options{Token: "tök"}, "Token"},
	} {
		_, err := New(tc.url, tc.opts)
		ke := codeOf(t, err)
		if ke.Code != CodeBadArgument || ke.Field != tc.field {
			t.Errorf("%q %+v: got %v", tc.url, tc.opts, err)
		}
		if strings.Contains(ke.Message, "words") || strings.Contains(ke.Message, "pw") {
			t.Errorf("a secret is quoted: %v", err)
		}
	}
	c, err := New("127.0.0.1:9", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Map() != nil || c.Version() != "" {
		t.Fatal("a map before the first fetch")
	}
	if _, err := c.Owners("k"); codeOf(t, err).Code != CodeSourceUnavailable {
		t.Fatalf("no map yet: %v", err)
	}
	if _, err := c.Pick("k"); codeOf(t, err).Code != CodeSourceUnavailable {
		t.Fatalf("no map yet: %v", err)
	}
	if err := c.SetToken("bad\ttoken"); codeOf(t, err).Code != CodeBadArgument || strings.Contains(err.Error(), "bad\t") {
		t.Fatalf("SetToken: %v", err)
	}
}

func TestPathPrefixBareHostAnd304KeepsTheMap(t *testing.T) {
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `W/"m1"` {
			w.Header().Set("ETag", `W/"m1"`)
			w.WriteHeader(304)
			return
		}
		writeJSON(w, 200, smallMap("v1", "2026-01-01T00:00:00.000Z", "a"), `W/"m1"`)
	})
	c, _ := New(s.URL+"/keyway?x=1", Options{})
	if changed, err := c.Refresh(context.Background()); err != nil || !changed {
		t.Fatalf("first: %v %v", changed, err)
	}
	if changed, err := c.Refresh(context.Background()); err != nil || changed {
		t.Fatalf("304: %v %v", changed, err)
	}
	got := s.seen()
	if len(got) != 2 || got[0].Path != "/keyway/v1/shardmap" || got[0].IfNoneMatch != "" || got[1].IfNoneMatch != `W/"m1"` {
		t.Fatalf("requests: %+v", got)
	}
	if o, _ := c.Owners("k"); !slices.Equal(o, []Owner{{"a", "10.0.0.1", 7000}}) {
		t.Fatalf("owners: %v", o)
	}
	if o, _ := c.Owners("k"); true {
		o[0].ID = "mutated" // the caller's copy
	}
	if o, _ := c.Owners("k"); o[0].ID != "a" {
		t.Fatal("Owners handed out the map's own slice")
	}
	bare, _ := New(strings.TrimPrefix(s.URL, "http://"), Options{})
	if _, err := bare.Refresh(context.Background()); err != nil || bare.Version() != "v1" {
		t.Fatalf("bare host:port: %v", err)
	}
}

func TestUnreachableAndKeywaysErrorCodes(t *testing.T) {
	c, _ := New("http://127.0.0.1:9", Options{Timeout: 2 * time.Second})
	if err := c.Start(context.Background()); codeOf(t, err).Code != CodeKeywayUnavailable {
		t.Fatalf("refused: %v", err)
	}
	for _, tc := range []struct {
		status int
		code   string
		want   string
	}{
		{503, "SOURCE_UNAVAILABLE", CodeSourceUnavailable},
		{401, "UNAUTHENTICATED", CodeUnauthenticated},
		{500, "SOMETHING_NEW", CodeKeywayUnavailable},
	} {
		s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, tc.status, map[string]any{"error": map[string]any{"code": tc.code, "message": "no"}}, "")
		})
		c, _ := New(s.URL, Options{})
		err := c.Start(context.Background())
		if ke := codeOf(t, err); ke.Code != tc.want || !strings.Contains(ke.Message, fmt.Sprintf("answered %d: no", tc.status)) {
			t.Errorf("%d %s: %v", tc.status, tc.code, err)
		}
	}
	notJSON := newScripted(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) })
	c, _ = New(notJSON.URL, Options{})
	if _, err := c.Refresh(context.Background()); !strings.Contains(fmt.Sprint(err), "not JSON") {
		t.Fatalf("not JSON: %v", err)
	}
	redirect := newScripted(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "https://elsewhere/", 308) })
	c, _ = New(redirect.URL, Options{Token: "secret"})
	if _, err := c.Refresh(context.Background()); !strings.Contains(fmt.Sprint(err), "answered 308, a redirect to https://elsewhere/") {
		t.Fatalf("redirect: %v", err)
	}
	if n := len(redirect.seen()); n != 1 {
		t.Fatalf("the redirect was followed: %d requests", n)
	}
}

func TestNotAShardMap(t *testing.T) {
	for _, tc := range []struct {
		body string
		want string
	}{
		{`[]`, "not a shard map"},
		{`{"shardCount":1,"shards":[],"endpoints":[]}`, "no version"},
		{`{"version":"v","shardCount":1.5,"shards":[],"endpoints":[]}`, "shardCount 1.5"},
		{`{"version":"v","shardCount":2,"shards":[{"shard":0,"owners":[]}],"endpoints":[]}`, "1 shards for shardCount 2"},
		{`{"version":"v","shardCount":1,"shards":[{"shard":0,"owners":["x"]}],"endpoints":[]}`, `unknown owner "x"`},
		{`{"version":"v","shardCount":1,"shards":[{"shard":0,"owners":[],"readers":0}],"endpoints":[]}`, "readers 0"},
		{`{"version":"v","shardCount":1,"shards":[{"shard":0,"owners":[]}],"endpoints":[{"id":"a","address":"x","port":1,"weight":-1}]}`, "endpoint a: weight -1"},
		{`{"version":"v","shardCount":1,"shards":[{"shard":1,"owners":[]}],"endpoints":[]}`, "shard entry"},
	} {
		s := newScripted(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(tc.body)) })
		c, _ := New(s.URL, Options{})
		_, err := c.Refresh(context.Background())
		if ke := codeOf(t, err); ke.Code != CodeKeywayUnavailable || !strings.Contains(ke.Message, tc.want) {
			t.Errorf("%s: %v", tc.body, err)
		}
	}
}

func TestAnswersOverTheSizeLimitAreRefused(t *testing.T) {
	// /readyz: 1 MiB + 1 byte, streamed without a Content-Length: cut as it arrives.
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			chunk := []byte(strings.Repeat("x", 64*1024))
			for sent := 0; sent <= MaxReadyzBytes; sent += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
			return
		}
		writeJSON(w, 200, smallMap("v1", "2026-01-01T00:00:00.000Z", "a"), `W/"m1"`)
	})
	var got errs
	c, _ := New(s.URL, Options{PollInterval: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, OnError: got.add})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a failed poll", func() bool { return len(got.all()) >= 1 })
	c.Close()
	if e := got.all()[0]; e.Code != CodeKeywayUnavailable || !strings.Contains(e.Message, "the answer is over the 1048576-byte limit") {
		t.Fatalf("readyz: %v", e)
	}
	if c.Version() != "v1" || c.LastError() == nil {
		t.Fatal("the last good map stays, the error is kept")
	}

	// /v1/shardmap: its limit lowered for the test; declared, then streamed.
	setLimit(t, &maxShardMapBytes, 100)
	raw, _ := json.Marshal(smallMap("v1", "2026-01-01T00:00:00.000Z", "a"))
	declared := newScripted(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, smallMap("v1", "", "a"), "") })
	c, _ = New(declared.URL, Options{})
	if _, err := c.Refresh(context.Background()); !strings.Contains(fmt.Sprint(err), "over the 100-byte limit") {
		t.Fatalf("declared: %v", err)
	}
	streamed := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(raw[:60])
		w.(http.Flusher).Flush()
		_, _ = w.Write(raw[60:])
	})
	c, _ = New(streamed.URL, Options{})
	if _, err := c.Refresh(context.Background()); !strings.Contains(fmt.Sprint(err), "over the 100-byte limit") {
		t.Fatalf("streamed: %v", err)
	}
}

func TestAnOlderMapFromAReplicaBehindIsNotTaken(t *testing.T) {
	// Two replicas behind one address: v2 came into force after v1. A fetch that reaches the
	// replica still at v1 keeps v2 (HeldMapGrace), and names v1's tag next time.
	s, serve := replicas(t, smallMap("v2", "2026-01-01T00:01:00.000Z", "b"), `W/"v2"`)
	var updates []string
	c, _ := New(s.URL, Options{OnUpdate: func(m *Map) { updates = append(updates, m.Version()) }})
	ctx := context.Background()
	if _, err := c.Refresh(ctx); err != nil || c.Version() != "v2" {
		t.Fatal(err)
	}
	serve(smallMap("v1", "2026-01-01T00:00:00.000Z", "a"), `W/"v1"`)
	if changed, err := c.Refresh(ctx); changed || err != nil || c.Version() != "v2" || len(updates) != 0 || c.LastError() != nil {
		t.Fatalf("the older map was taken: %v %v %v", changed, err, updates)
	}
	if changed, _ := c.Refresh(ctx); changed {
		t.Fatal("taken at the second fetch")
	}
	if last := s.seen()[len(s.seen())-1]; last.IfNoneMatch != `W/"v2", W/"v1"` {
		t.Fatalf("the refused map's tag is not named: %q", last.IfNoneMatch)
	}
	// Past the grace (no replica served v2 since), the older map is taken.
	c.reqMu.Lock()
	c.heldSeenAt = c.heldSeenAt.Add(-HeldMapGrace - time.Second)
	c.reqMu.Unlock()
	if changed, err := c.Refresh(ctx); !changed || err != nil || c.Version() != "v1" || !slices.Equal(updates, []string{"v1"}) {
		t.Fatalf("past the grace: %v %v %v", changed, err, updates)
	}
}

func TestAChangeUndoneOnTheReplicasIsTakenAfterTheRecheck(t *testing.T) {
	// v1 (refused from a replica behind while v2 is held) comes back as the replicas' newest map:
	// after RejectedMapRecheck 304s to v1's tag, the held map is named alone and v1 is fetched.
	s, serve := replicas(t, smallMap("v2", "2026-01-01T00:01:00.000Z", "b"), `W/"v2"`)
	c, _ := New(s.URL, Options{})
	ctx := context.Background()
	_, _ = c.Refresh(ctx)
	serve(smallMap("v1", "2026-01-01T00:00:00.000Z", "a"), `W/"v1"`)
	_, _ = c.Refresh(ctx) // refused as older
	// Undone: v1 came into force again, last.
	serve(smallMap("v1", "2026-01-01T00:02:00.000Z", "a"), `W/"v1"`)
	for i := range RejectedMapRecheck {
		if changed, _ := c.Refresh(ctx); changed {
			t.Fatalf("taken at 304 number %d", i+1)
		}
	}
	if changed, err := c.Refresh(ctx); !changed || err != nil || c.Version() != "v1" {
		t.Fatalf("after the recheck: %v %v %v", changed, err, c.Version())
	}
	if last := s.seen()[len(s.seen())-1]; last.IfNoneMatch != `W/"v2"` {
		t.Fatalf("the recheck names the held map alone: %q", last.IfNoneMatch)
	}
}

func TestPollDelayDoublesToTheCapWithJitter(t *testing.T) {
	half := func() float64 { return 0.5 }
	var got []time.Duration
	for n := range 7 {
		got = append(got, PollDelay(time.Second, n, 30*time.Second, half))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("doubling: %v", got)
		}
	}
	if d := PollDelay(time.Second, 0, 30*time.Second, func() float64 { return 0 }); d != 900*time.Millisecond {
		t.Fatalf("-10 %%: %v", d)
	}
	if d := PollDelay(time.Second, 40, 30*time.Second, func() float64 { return 0.999999 }); d < 32999*time.Millisecond || d > 33*time.Second {
		t.Fatalf("+10 %% at the cap: %v", d)
	}
	if d := PollDelay(5*time.Second, 3, time.Second, half); d != 5*time.Second {
		t.Fatalf("a cap below the interval leaves the interval: %v", d)
	}
}

func TestPollsBackOffWhileKeywayFailsAndRecover(t *testing.T) {
	var down atomic.Bool
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			writeJSON(w, 500, map[string]any{"error": map[string]any{"code": "INTERNAL", "message": "down"}}, "")
			return
		}
		if r.URL.Path == "/readyz" {
			writeJSON(w, 200, map[string]any{"ready": true, "version": "v1"}, "")
			return
		}
		writeJSON(w, 200, smallMap("v1", "", "a"), "")
	})
	var got errs
	c, _ := New(s.URL, Options{PollInterval: 2 * time.Millisecond, MaxBackoff: 16 * time.Millisecond, OnError: got.add})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	down.Store(true)
	failures := func() int { c.reqMu.Lock(); defer c.reqMu.Unlock(); return c.failures }
	eventually(t, "6 failed polls", func() bool { return failures() >= 6 })
	if e := got.all(); e[0].Code != CodeInternal || c.Version() != "v1" {
		t.Fatalf("errors %v, version %q", e, c.Version())
	}
	// The wait the poll goroutine draws at this many failures is the cap, ±10 %.
	if d := PollDelay(c.pollInterval, failures(), c.maxBackoff, func() float64 { return 0.5 }); d != 16*time.Millisecond {
		t.Fatalf("capped backoff: %v", d)
	}
	down.Store(false)
	eventually(t, "a good poll", func() bool { return failures() == 0 && c.LastError() == nil })
}

func TestCloseEndsARequestInFlight(t *testing.T) {
	release := make(chan struct{})
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	var got errs
	c, _ := New(s.URL, Options{Timeout: 30 * time.Second, OnError: got.add})
	done := make(chan error, 1)
	go func() { _, err := c.Refresh(context.Background()); done <- err }()
	eventually(t, "the request to reach the server", func() bool { return len(s.seen()) == 1 })
	c.Close()
	err := <-done
	if ke := codeOf(t, err); ke.Code != CodeKeywayUnavailable || !strings.HasSuffix(ke.Message, "the client was closed") {
		t.Fatalf("%v", err)
	}
	if len(got.all()) != 0 || c.LastError() != nil {
		t.Fatal("OnError was called for Close")
	}
	if err := c.Start(context.Background()); err == nil {
		t.Fatal("Start after Close")
	}
}

func TestRefreshEndedByItsContext(t *testing.T) {
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	var got errs
	c, _ := New(s.URL, Options{Timeout: 30 * time.Second, OnError: got.add})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		eventually(t, "the request", func() bool { return len(s.seen()) == 1 })
		cancel()
	}()
	_, err := c.Refresh(ctx)
	if !errors.Is(err, context.Canceled) || codeOf(t, err).Code != CodeKeywayUnavailable {
		t.Fatalf("%v", err)
	}
	if len(got.all()) != 0 {
		t.Fatal("OnError for the caller's cancellation")
	}
}

func TestACallbackMayCallRefreshAndClose(t *testing.T) {
	s, version := versioned(t)
	refreshed := make(chan bool, 1)
	var c *Client
	var calls atomic.Int32
	closedFromCallback := make(chan struct{})
	c, _ = New(s.URL, Options{PollInterval: 5 * time.Millisecond, OnUpdate: func(m *Map) {
		switch calls.Add(1) {
		case 1:
			changed, _ := c.Refresh(context.Background())
			refreshed <- changed
		case 2:
			c.Close() // on the poll goroutine: must not wait for itself
			close(closedFromCallback)
		}
	}})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	version.Store("v2")
	select {
	case changed := <-refreshed:
		if changed {
			t.Fatal("the callback's refresh found a new version")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the callback's Refresh deadlocked")
	}
	version.Store("v3")
	eventually(t, "polling to go on", func() bool { return c.Version() == "v3" })
	select {
	case <-closedFromCallback:
	case <-time.After(20 * time.Second):
		t.Fatal("Close from a callback deadlocked")
	}
	version.Store("v4")
	before := len(s.seen())
	c.Close()
	if c.Version() != "v3" || len(s.seen()) != before {
		t.Fatal("polling went on after Close")
	}
}

func TestACallbackPanicIsLoggedOnceAndPollingGoesOn(t *testing.T) {
	s, version := versioned(t)
	var logged keywayproc.Buffer
	var calls atomic.Int32
	c, _ := New(s.URL, Options{
		PollInterval: 5 * time.Millisecond,
		Logger:       newTextLogger(&logged),
		OnUpdate:     func(*Map) { calls.Add(1); panic("boom") },
	})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	version.Store("v2")
	eventually(t, "v2", func() bool { return calls.Load() == 1 })
	version.Store("v3")
	eventually(t, "v3", func() bool { return calls.Load() == 2 && c.Version() == "v3" })
	if n := strings.Count(logged.String(), "OnUpdate panicked"); n != 1 {
		t.Fatalf("logged %d times: %s", n, logged.String())
	}
}

func TestATricklingAnswerIsCutAtTheBoundOfATransfer(t *testing.T) {
	// One byte at a time, each well within Timeout: only the bound in all (lowered for the test)
	// ends the transfer.
	setLimit(t, &maxTransfer, 200*time.Millisecond)
	var sent atomic.Int32
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		for range 400 {
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			sent.Add(1)
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	c, _ := New(s.URL, Options{Timeout: 150 * time.Millisecond})
	_, err := c.Refresh(context.Background())
	if ke := codeOf(t, err); ke.Code != CodeKeywayUnavailable || !strings.Contains(ke.Message, "(the bound of a transfer)") {
		t.Fatalf("%v", err)
	}
	if sent.Load() >= 400 {
		t.Fatal("not cut before the server finished")
	}
}

func TestAStalledTransferIsCut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = w.Write([]byte(`{"version":`))
		w.(http.Flusher).Flush()
		select { // then nothing
		case <-release:
		case <-r.Context().Done():
		}
	})
	c, _ := New(s.URL, Options{Timeout: 100 * time.Millisecond})
	_, err := c.Refresh(context.Background())
	if ke := codeOf(t, err); !strings.Contains(ke.Message, "no byte of the answer for 100ms") {
		t.Fatalf("%v", err)
	}
	silent := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c, _ = New(silent.URL, Options{Timeout: 100 * time.Millisecond})
	if _, err := c.Refresh(context.Background()); !strings.Contains(fmt.Sprint(err), "no answer within 100ms") {
		t.Fatalf("%v", err)
	}
}

func TestABodyShorterThanItsContentLength(t *testing.T) {
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = w.Write([]byte(`{"version":`))
		// The handler returns: the server closes the connection mid-body (keyway restarted).
	})
	c, _ := New(s.URL, Options{})
	_, err := c.Refresh(context.Background())
	if !strings.Contains(fmt.Sprint(err), "the connection closed after 11 of the 1000 bytes the answer declared (Content-Length)") {
		t.Fatalf("%v", err)
	}
}

func TestATokenReplacedInFlightIsSentAgain(t *testing.T) {
	// keyway takes only "new"; the first request is held until SetToken("new") ran.
	inFlight := make(chan struct{})
	var once sync.Once
	replaced := make(chan struct{})
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer new" {
			once.Do(func() { close(inFlight); <-replaced })
			writeJSON(w, 401, map[string]any{"error": map[string]any{"code": "UNAUTHENTICATED", "message": "bad token"}}, "")
			return
		}
		writeJSON(w, 200, smallMap("v1", "", "a"), "")
	})
	var got errs
	c, _ := New(s.URL, Options{Token: "old", OnError: got.add})
	go func() {
		<-inFlight
		_ = c.SetToken("new")
		close(replaced)
	}()
	if _, err := c.Refresh(context.Background()); err != nil || c.Version() != "v1" {
		t.Fatalf("%v", err)
	}
	if auth := []string{s.seen()[0].Authorization, s.seen()[1].Authorization}; !slices.Equal(auth, []string{"Bearer old", "Bearer new"}) || len(got.all()) != 0 {
		t.Fatalf("requests %v, errors %v", auth, got.all())
	}
	// The token in use refused: UNAUTHENTICATED, once, the map kept.
	_ = c.SetToken("other")
	_, err := c.Refresh(context.Background())
	if codeOf(t, err).Code != CodeUnauthenticated || len(s.seen()) != 3 || c.Version() != "v1" {
		t.Fatalf("%v after %d requests", err, len(s.seen()))
	}
}

func TestTheConnectionIsRenewedAfterMaxConnectionReuse(t *testing.T) {
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, smallMap("v1", "", "a"), "") })
	c, _ := New(s.URL, Options{})
	ctx := context.Background()
	for range 3 {
		if _, err := c.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if r := s.seen(); r[0].Remote != r[2].Remote || r[1].Close {
		t.Fatalf("a connection is reused within the bound: %+v", r)
	}
	setLimit(t, &maxConnectionReuse, 0)
	for range 2 {
		if _, err := c.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r := s.seen()
	if !r[3].Close || r[3].Remote != r[2].Remote || r[4].Remote == r[3].Remote {
		t.Fatalf("Connection: close, then a new connection: %+v", r[2:])
	}
}

func TestConcurrentReadersWhilePollingUpdates(t *testing.T) {
	// Run under -race: readers on several goroutines while the poll goroutine swaps maps.
	var n atomic.Int32
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		v := fmt.Sprintf("v%d", n.Add(1))
		if r.URL.Path == "/readyz" {
			writeJSON(w, 200, map[string]any{"ready": true, "version": v}, "")
			return
		}
		writeJSON(w, 200, smallMap(v, time.Now().UTC().Format(time.RFC3339Nano), "a"+v), "")
	})
	var updates atomic.Int32
	c, _ := New(s.URL, Options{PollInterval: time.Millisecond, OnUpdate: func(*Map) { updates.Add(1) }})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				m := c.Map()
				key := fmt.Sprintf("k%d-%d", g, i)
				o, ok := m.Pick(key)
				owners := m.Owners(key)
				if !ok || len(owners) != 1 || owners[0] != o || !strings.HasPrefix(o.ID, "a") {
					t.Errorf("map %s: %v %v", m.Version(), o, owners)
					return
				}
				if _, err := c.Pick(key); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	eventually(t, "some updates", func() bool { return updates.Load() >= 3 })
	c.Close()
	before := len(s.seen())
	if err := c.Start(context.Background()); err == nil {
		t.Fatal("Start after Close")
	}
	if len(s.seen()) != before {
		t.Fatal("a request after Close returned")
	}
}

// ErrorCodes mirrors keyway's list (src/core/errors.ts), in its order.
func TestErrorCodesAreKeyways(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "src", "core", "errors.ts"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(src), "export const ERROR_CODES = [")
	if !ok {
		t.Fatal("no ERROR_CODES in errors.ts")
	}
	block, _, _ = strings.Cut(block, "]")
	var codes []string
	for _, m := range regexp.MustCompile(`'([A-Z_]+)'`).FindAllStringSubmatch(block, -1) {
		codes = append(codes, m[1])
	}
	if !slices.Equal(codes, ErrorCodes) {
		t.Fatalf("errors.ts %v, ErrorCodes %v", codes, ErrorCodes)
	}
}

func TestLBWeightRoundsAsJavaScript(t *testing.T) {
	for w, want := range map[float64]float64{0: 1, 0.025: 3, 0.125: 13, 0.004: 1, 1: 100, 1e9: maxLBWeight} {
		if got := lbWeight(w); got != want {
			t.Errorf("lbWeight(%v) = %v, want %v", w, got, want)
		}
	}
}

func TestCloseLeavesNoGoroutineBehind(t *testing.T) {
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			writeJSON(w, 200, map[string]any{"ready": true, "version": "v1"}, "")
			return
		}
		writeJSON(w, 200, smallMap("v1", "", "a"), "")
	})
	// The client's goroutines: the poll goroutine, and a kept-alive connection's reader and writer.
	left := func() []string {
		buf := make([]byte, 1<<20)
		var found []string
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			for _, name := range []string{"shardmap.(*Client).run", "net/http.(*persistConn).readLoop", "net/http.(*persistConn).writeLoop"} {
				if strings.Contains(g, name) {
					found = append(found, name)
				}
			}
		}
		return found
	}
	// Polls far apart: at Close the connection is idle, not ended with a request in flight.
	c, _ := New(s.URL, Options{PollInterval: time.Hour})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the poll goroutine and the kept-alive connection", func() bool { return len(left()) == 3 })
	c.Close()
	eventually(t, "the goroutines to end", func() bool { return len(left()) == 0 })
	if c.Version() != "v1" {
		t.Fatal("the map in hand stays readable")
	}
}

func TestAPauseDoesNotAgeTheHoldWhenARefreshRunsFirst(t *testing.T) {
	// The process was paused 40 s (the poll 40 s past due), the last word from a replica with the
	// held map 35 s ago, 5 s of it before the pause. A Refresh on another goroutine that runs
	// before the poll goroutine wakes reaches a replica behind: the older map is not taken.
	var mu sync.Mutex
	serve, etag := smallMap("v2", "2026-01-01T00:01:00.000Z", "b"), `W/"v2"`
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		body, tag := serve, etag
		mu.Unlock()
		if r.URL.Path == "/readyz" {
			writeJSON(w, 200, map[string]any{"ready": true, "version": body["version"]}, "")
			return
		}
		writeJSON(w, 200, body, tag)
	})
	c, _ := New(s.URL, Options{PollInterval: 2 * time.Second})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The poll goroutine sets pollDue as it starts to wait: set before that, the pause was
	// overwritten and the hold aged (1 CI run in many).
	eventually(t, "the poll goroutine to wait for its first poll", func() bool {
		c.reqMu.Lock()
		defer c.reqMu.Unlock()
		return !c.pollDue.IsZero()
	})
	c.reqMu.Lock()
	c.pollDue = time.Now().Add(-40 * time.Second)
	c.heldSeenAt = time.Now().Add(-35 * time.Second)
	c.reqMu.Unlock()
	mu.Lock()
	serve, etag = smallMap("v1", "2026-01-01T00:00:00.000Z", "a"), `W/"v1"`
	mu.Unlock()
	if changed, err := c.Refresh(context.Background()); changed || err != nil || c.Version() != "v2" {
		t.Fatalf("the older map was taken after the pause: %v %v %q", changed, err, c.Version())
	}
}

func TestPollDelayPastDurationsRangeIsNotAHotLoop(t *testing.T) {
	// An interval or a cap near math.MaxInt64 ("never poll", "no cap") gives a wait past
	// time.Duration's range once jittered up: it is the longest Duration, not 1 ms.
	never := time.Duration(math.MaxInt64)
	for _, r := range []float64{0, 0.5, 0.999999} {
		random := func() float64 { return r }
		if d := PollDelay(never, 0, 0, random); d < never/10*9 {
			t.Fatalf("PollInterval MaxInt64, random %v: %v", r, d)
		}
		if d := PollDelay(10*time.Second, 40, never, random); d < never/10*9 {
			t.Fatalf("MaxBackoff MaxInt64 after 40 failures, random %v: %v", r, d)
		}
	}
}

func TestCloseWaitsForTheCallbackThePollGoroutineIsRunning(t *testing.T) {
	// Close from another goroutine while OnUpdate runs on the poll goroutine: Close returns only
	// once the callback and the poll goroutine ended (only a Close from the callback itself does
	// not wait).
	s, version := versioned(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	c, _ := New(s.URL, Options{PollInterval: 5 * time.Millisecond, OnUpdate: func(*Map) {
		close(entered)
		<-release
		finished.Store(true)
	}})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	version.Store("v2")
	<-entered
	closed := make(chan bool)
	go func() { c.Close(); closed <- finished.Load() }()
	eventually(t, "Close to begin", c.isClosed)
	// Give Close the time to return early if it does; the release comes either way.
	time.Sleep(50 * time.Millisecond)
	close(release)
	if !<-closed {
		t.Fatal("Close returned while OnUpdate still ran on the poll goroutine")
	}
}

func TestGoroutineIDTellsGoroutinesApart(t *testing.T) {
	here := goroutineID()
	other := make(chan uint64)
	go func() { other <- goroutineID() }()
	if there := <-other; here == 0 || there == 0 || here == there || goroutineID() != here {
		t.Fatalf("ids %d and %d", here, there)
	}
}
