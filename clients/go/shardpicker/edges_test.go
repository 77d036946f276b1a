package shardpicker

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	keyway "github.com/keyway/keyway/clients/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A config that changes S: shard numbers and keys are read against the S of the config in force,
// in both directions.
func TestChannelShardCountChanges(t *testing.T) {
	f := newChannelFixture(t, 2)
	small := configJSON(t, "x-cache-key", "reject", f.addrs(), 1, [][]int{{0}, {1}})
	owners := make([][]int, 8)
	for s := range owners {
		owners[s] = []int{(s / 4) % 2}
	}
	big := configJSON(t, "x-cache-key", "reject", f.addrs(), 1, owners)
	f.dial(small)
	f.until("node-1", "x-cache-shard", "1")
	if _, err := f.call(time.Second, []string{"x-cache-shard", "5"}, false); status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "[0, 2)") {
		t.Fatalf("shard 5 of 2: %v", err)
	}
	f.push(big)
	f.until("node-1", "x-cache-shard", "5")
	f.until("node-0", "x-cache-shard", "1")
	for i := 0; i < 20; i++ {
		key := "user:" + strconv.Itoa(i)
		f.until("node-"+strconv.Itoa(int(keyway.ShardFor(key, 8)/4)), "x-cache-key", key)
	}
	f.push(small)
	f.until("node-1", "x-cache-shard", "1")
	if _, err := f.call(time.Second, []string{"x-cache-shard", "5"}, false); status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "[0, 2)") {
		t.Fatalf("shard 5 of 2 again: %v", err)
	}
}

// A config that removes every endpoint (keyway's map with nothing serving: endpoints [], every
// rank empty) while EDS still lists the old ones, then with EDS empty too: sharded calls fail at
// once, UNAVAILABLE, instead of reaching a former owner or waiting; calls without a shard
// (missingHeader any) still reach a READY endpoint while EDS lists one; a config with owners again
// brings routing back.
func TestChannelConfigWithoutEndpoints(t *testing.T) {
	f := newChannelFixture(t, 2)
	full := configJSON(t, "", "any", f.addrs(), 2, [][]int{{0, 1}, {1, 0}})
	empty := configJSON(t, "", "any", []string{}, 2, [][]int{{}, {}})
	f.dial(full)
	f.until("node-1", "x-cache-shard", "1")
	f.push(empty)
	f.failsWith("shard 0 has no owner", "x-cache-shard", "0")
	f.failsWith("shard 1 has no owner", "x-cache-shard", "1")
	if got, err := f.call(2*time.Second, nil, false); err != nil || (got != "node-0" && got != "node-1") {
		t.Fatalf("no shard while EDS lists endpoints: %q %v", got, err)
	}
	f.push(empty, []string{}...)
	f.failsWith("shard 0 has no owner", "x-cache-shard", "0")
	f.failsWith("no endpoint is reachable: the cluster has no endpoints")
	f.push(full)
	f.until("node-0", "x-cache-shard", "0")
	f.until("node-1", "x-cache-shard", "1")
}

// Configs with different S, tables and endpoint sets pushed while calls run from many goroutines
// (run with -race). Every call ends with an answer from the owner a pushed config names, or with a
// code the contract allows; after the last push every call follows it.
func TestConcurrentShardCountAndEndpointChanges(t *testing.T) {
	f := newChannelFixture(t, 3)
	addrs := f.addrs()
	two := configJSON(t, "x-cache-key", "any", addrs, 1, [][]int{{0}, {1}})
	eight := configJSON(t, "x-cache-key", "any", addrs, 2, [][]int{{2, 0}, {2, 1}, {2, 0}, {2, 1}, {2, 0}, {2, 1}, {2, 0}, {2, 1}})
	none := configJSON(t, "x-cache-key", "any", []string{}, 1, make([][]int, 8))
	f.dial(two)
	f.until("node-1", "x-cache-shard", "1")

	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				shard := strconv.Itoa((g + i) % 8)
				got, err := f.call(200*time.Millisecond, []string{"x-cache-shard", shard}, false)
				switch c := status.Code(err); {
				case err == nil && shard >= "2" && got != "node-2" && got != "node-"+strconv.Itoa((g+i)%2):
					t.Errorf("shard %s (only S = 8 has it: node-2, then node-%d) answered by %s", shard, (g+i)%2, got)
					return
				case c == codes.Internal && shard < "2":
					t.Errorf("shard %s is in range under every config: %v", shard, err)
					return
				case err != nil && c != codes.Internal && c != codes.Unavailable && c != codes.DeadlineExceeded:
					t.Errorf("shard %s: %v", shard, err)
					return
				}
			}
		}(g)
	}
	for round := 0; round < 45; round++ {
		switch round % 3 {
		case 0:
			f.push(eight)
		case 1:
			f.push(none, addrs[round%3])
		case 2:
			f.push(two, addrs[:2]...)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	f.push(eight)
	for s := 0; s < 8; s++ {
		f.until("node-2", "x-cache-shard", strconv.Itoa(s))
	}
}
