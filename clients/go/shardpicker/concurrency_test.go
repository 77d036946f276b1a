package shardpicker

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Calls from many goroutines while the config and the EDS endpoints change under them, owners
// restart, and resolver errors arrive: run with -race, it finds shared state the pickers and the
// balancer touch without a lock. Once the changes stop, every call lands on the last config's
// owner: an older picker built from an earlier config never overwrites a newer one.
func TestConcurrentPicksDuringUpdates(t *testing.T) {
	f := newChannelFixture(t, 3)
	addrs := f.addrs()
	configs := [][]byte{
		configJSON(t, "x-cache-key", "any", addrs, 2, [][]int{{0, 1}, {1, 2}, {2, 0}}),
		configJSON(t, "x-cache-key", "any", addrs, 2, [][]int{{1, 2}, {2, 0}, {0, 1}}),
		hotConfigFor(t, addrs),
	}
	f.dial(configs[0])
	f.until("node-0", "x-cache-shard", "0")

	load := startCalls(t, f, 8, 200*time.Millisecond, func(i int) ([]string, bool) {
		md := []string{"x-cache-shard", strconv.Itoa(i % 3)}
		switch i % 4 {
		case 1:
			md = []string{"x-cache-key", "key-" + strconv.Itoa(i)}
		case 3:
			md = nil // no shard: any READY endpoint, in turn
		}
		return md, i%3 == 0
	})
	for round := 0; round < 60; round++ {
		cfg := configs[round%len(configs)]
		switch round % 4 {
		case 0:
			f.push(cfg)
		case 1:
			f.push(cfg, addrs[round%3], addrs[(round+1)%3])
		case 2:
			f.r.CC().ReportError(context.DeadlineExceeded)
			f.push(cfg)
		case 3:
			b := f.backends[round%3]
			b.stop()
			f.push(cfg)
			if err := b.start(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The last word: shard 0 to node-2 alone.
	final := configJSON(t, "x-cache-key", "any", addrs, 1, [][]int{{2}, {2}, {2}})
	f.push(final)
	f.until("node-2", "x-cache-shard", "0")
	load.end()
	if load.answered.Load() == 0 {
		t.Fatalf("none of %d calls answered", load.calls.Load())
	}
	for i := 0; i < 20; i++ {
		if got, err := f.call(2*time.Second, []string{"x-cache-shard", "0"}, true); err != nil || got != "node-2" {
			t.Fatalf("after the last config: %q, %v", got, err)
		}
	}
}

// callLoad is goroutines calling through a channel fixture until end: owners restart and EDS
// shrinks under them, so a call may fail UNAVAILABLE or by its deadline, never with a caller's error.
type callLoad struct {
	stop            atomic.Bool
	wg              sync.WaitGroup
	calls, answered atomic.Int64
}

// startCalls starts n goroutines; call i sends the metadata and wait-for-ready flag of next(i).
func startCalls(t *testing.T, f *channelFixture, n int, timeout time.Duration, next func(i int) ([]string, bool)) *callLoad {
	l := &callLoad{}
	for g := 0; g < n; g++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; !l.stop.Load(); i++ {
				md, waitForReady := next(i)
				l.calls.Add(1)
				_, err := f.call(timeout, md, waitForReady)
				if err == nil {
					l.answered.Add(1)
					continue
				}
				if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
					t.Errorf("call %v: %v", md, err)
					return
				}
			}
		}()
	}
	return l
}

// end stops the calls and waits for the goroutines.
func (l *callLoad) end() {
	l.stop.Store(true)
	l.wg.Wait()
}

// Close of the channel while goroutines are mid-call: every call ends, none hangs or panics.
func TestCloseDuringPicks(t *testing.T) {
	f := newChannelFixture(t, 2)
	cfg := configJSON(t, "", "any", f.addrs(), 2, [][]int{{0, 1}, {1, 0}})
	f.dial(cfg)
	f.until("node-0", "x-cache-shard", "0")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if _, err := f.call(5*time.Second, []string{"x-cache-shard", strconv.Itoa(i % 2)}, true); err != nil {
					if c := status.Code(err); c != codes.Canceled && c != codes.Unavailable {
						t.Errorf("call after close: %v", err)
					}
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	_ = f.conn.Close()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("calls still running 10 s after Close")
	}
}

// hotConfigFor is a config over addrs whose shard 0 is read by its first two owners.
func hotConfigFor(t *testing.T, addrs []string) []byte {
	t.Helper()
	raw := configJSON(t, "x-cache-key", "any", addrs, 2, [][]int{{2, 1}, {0, 2}, {1, 0}})
	// configJSON writes a JSON object: splice the hot-shard fields in before its closing brace.
	return append(raw[:len(raw)-1], []byte(`,"readers":[0,2],"weights":[1,2,3]}`)...)
}
