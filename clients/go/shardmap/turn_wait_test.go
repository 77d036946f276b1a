package shardmap

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// refreshing runs Refresh(ctx) on a goroutine; the channel gets its error.
func refreshing(c *Client, ctx context.Context) chan error {
	done := make(chan error, 1)
	go func() { _, err := c.Refresh(ctx); done <- err }()
	return done
}

func ended(t *testing.T, what string, done chan error) error {
	t.Helper()
	var err error
	eventually(t, what, func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	return err
}

// A Refresh waiting for its turn behind another's request (here one the server holds) is ended by
// its context: it returns the context's error while the other request is still under way, and
// reports nothing to OnError.
func TestARefreshWaitingForItsTurnEndsWithItsContext(t *testing.T) {
	s, held, releaseFirst := firstRequestHeld(t)

	var got errs
	c, _ := New(s.URL, Options{Timeout: time.Hour, OnError: got.add})
	t.Cleanup(c.Close)
	slow := refreshing(c, context.Background())
	eventually(t, "the server to hold the first Refresh's request", func() bool { return held.Load() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	waiting := refreshing(c, ctx)
	eventually(t, "the second Refresh to wait for its turn", func() bool {
		c.stateMu.Lock()
		defer c.stateMu.Unlock()
		return len(c.inflight) == 3 // the first Refresh, its request, the second Refresh
	})
	cancel()
	err := ended(t, "the waiting Refresh to end while the server holds the first request", waiting)
	if !errors.Is(err, context.Canceled) || codeOf(t, err).Code != CodeKeywayUnavailable {
		t.Fatalf("want KEYWAY_UNAVAILABLE wrapping context.Canceled, got %v", err)
	}
	if held.Load() != 1 {
		t.Fatalf("the ended Refresh sent a request: %d requests", held.Load())
	}
	if len(got.all()) != 0 || c.LastError() != nil {
		t.Fatalf("a Refresh ended by its context was reported: %v %v", got.all(), c.LastError())
	}
	releaseFirst()
	if err := ended(t, "the first Refresh", slow); err != nil || c.Version() != "v1" {
		t.Fatalf("the first Refresh: %v, version %q", err, c.Version())
	}
}

// A Refresh called before Close and still waiting for its turn is ended by Close even when the
// turn is held by a request Close does not end (a Refresh called after Close, stood for here by
// holding reqMu): it returns "the client was closed" while that request goes on.
func TestCloseEndsARefreshWaitingBehindARequestItDoesNotEnd(t *testing.T) {
	s, _ := versioned(t)
	var got errs
	c, _ := New(s.URL, Options{OnError: got.add})
	c.reqMu.Lock()
	var unlockOnce sync.Once
	unlock := func() { unlockOnce.Do(c.reqMu.Unlock) }
	t.Cleanup(unlock)
	waiting := refreshing(c, context.Background())
	eventually(t, "the Refresh to wait for its turn", func() bool {
		c.stateMu.Lock()
		defer c.stateMu.Unlock()
		return len(c.inflight) == 1
	})
	c.Close()
	err := ended(t, "the Refresh to end while reqMu is held", waiting)
	if ke := codeOf(t, err); ke.Code != CodeKeywayUnavailable || !strings.HasSuffix(ke.Message, "/v1/shardmap: the client was closed") {
		t.Fatalf("%v", err)
	}
	if s.count("/v1/shardmap") != 0 {
		t.Fatal("the ended Refresh sent a request")
	}
	if len(got.all()) != 0 || c.LastError() != nil {
		t.Fatal("OnError was called for Close")
	}
	unlock()
	if _, err := c.Refresh(context.Background()); err != nil || c.Version() != "v1" {
		t.Fatalf("a Refresh after Close still fetches: %v", err)
	}
}

// firstRequestHeld is a scripted keyway that holds its first request until releaseFirst (or the
// test's end, or the client giving up on it) and answers every other with a small map; held
// counts the requests it was sent.
func firstRequestHeld(t *testing.T) (s *scripted, held *atomic.Int32, releaseFirst func()) {
	release := make(chan struct{})
	held = new(atomic.Int32)
	s = newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		if held.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		writeJSON(w, 200, smallMap("v1", "", "a"), "")
	})
	var once sync.Once
	releaseFirst = func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseFirst)
	return s, held, releaseFirst
}
