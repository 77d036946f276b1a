package shardmap

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A Close that comes after a poll's closed check and before its request is sent cancels that
// request: Close returns while the server still holds every request it got, and the poll ends as
// "closed", not as keyway's failure.
func TestCloseInThePollsWindowCancelsItsRequest(t *testing.T) {
	release := make(chan struct{})
	var polls, cancelled atomic.Int32
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			writeJSON(w, 200, smallMap("v1", "", "a"), "")
			return
		}
		polls.Add(1)
		select {
		case <-release:
			writeJSON(w, 200, map[string]any{"ready": true, "version": "v1"}, "")
		case <-r.Context().Done():
			cancelled.Add(1)
		}
	})
	// Registered after newScripted, so it runs first: the server's Close waits for its handlers.
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })

	var got errs
	c, _ := New(s.URL, Options{PollInterval: time.Millisecond, Timeout: time.Hour, OnError: got.add})
	closeReturned := make(chan struct{})
	var hookOnce sync.Once
	testHookPollRegistered = func() {
		hookOnce.Do(func() {
			go func() { c.Close(); close(closeReturned) }()
			// Close has begun: closed is set and the requests it found are cancelled. (Bounded;
			// not eventually: this runs on the poll goroutine, where t.Fatal must not be called.)
			for deadline := time.Now().Add(20 * time.Second); !c.isClosed() && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
		})
	}
	t.Cleanup(func() { testHookPollRegistered = nil })
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Close to return while the server holds the poll's request", func() bool {
		select {
		case <-closeReturned:
			return true
		default:
			return false
		}
	})
	// The server released nothing: a request that reached it was cancelled, not answered.
	eventually(t, "each poll that reached the server to see its cancellation", func() bool { return cancelled.Load() == polls.Load() })
	if len(got.all()) != 0 || c.LastError() != nil {
		t.Fatalf("the poll ended by Close was reported: %v %v", got.all(), c.LastError())
	}
	if c.Version() != "v1" {
		t.Fatal("the map in hand stays readable")
	}
}

// A Close while a Refresh holds its turn but has not sent its request yet ends that Refresh: it is
// under way, so it returns "the client was closed" at once instead of waiting for keyway's
// answer. A Refresh called after Close still fetches.
func TestCloseBeforeARefreshsRequestEndsIt(t *testing.T) {
	s, _, releaseFirst := firstRequestHeld(t)

	var got errs
	c, _ := New(s.URL, Options{Timeout: time.Hour, OnError: got.add})
	var hookOnce sync.Once
	testHookRefreshLocked = func() { hookOnce.Do(c.Close) } // not started: Close waits for no goroutine
	t.Cleanup(func() { testHookRefreshLocked = nil })
	done := make(chan error, 1)
	go func() { _, err := c.Refresh(context.Background()); done <- err }()
	var err error
	eventually(t, "the Refresh to end while the server holds its request", func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	if ke := codeOf(t, err); ke.Code != CodeKeywayUnavailable || !strings.HasSuffix(ke.Message, "the client was closed") {
		t.Fatalf("%v", err)
	}
	if len(got.all()) != 0 || c.LastError() != nil {
		t.Fatal("OnError was called for Close")
	}
	releaseFirst()
	if _, err := c.Refresh(context.Background()); err != nil || c.Version() != "v1" {
		t.Fatalf("a Refresh after Close still fetches: %v", err)
	}
}

// Close does not wait for a request it does not end: with reqMu held (as by a Refresh called
// after Close, which Close leaves to fetch), the poll goroutine gives up its turn and Close
// returns while reqMu is still held.
func TestCloseDoesNotWaitForTheRequestTurn(t *testing.T) {
	s, _ := versioned(t)
	c, _ := New(s.URL, Options{PollInterval: time.Millisecond})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.reqMu.Lock()
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			c.reqMu.Unlock()
		}
	}
	t.Cleanup(unlock)
	closeReturned := make(chan struct{})
	go func() { c.Close(); close(closeReturned) }()
	eventually(t, "Close to return while reqMu is held", func() bool {
		select {
		case <-closeReturned:
			return true
		default:
			return false
		}
	})
	unlock()
	if c.Version() != "v1" {
		t.Fatal("the map in hand stays readable")
	}
}
