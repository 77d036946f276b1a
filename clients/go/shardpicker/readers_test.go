package shardpicker

import (
	"encoding/json"
	"math"
	"testing"

	"google.golang.org/grpc/connectivity"
)

// hotConfig is threeOwners with shard 0 read by its first two owners, weighted 1 (epA) and 3 (epB).
func hotConfig(t *testing.T, readers []float64, weights []float64) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(configJSON(t, "", "reject", threeEps, 2, threeOwners), &m); err != nil {
		t.Fatal(err)
	}
	m["readers"] = readers
	if weights != nil {
		m["weights"] = weights
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A hot shard's calls spread over its first k READY owners by weight (keyway docs/hot-shards.md).
func TestPickSpreadsHotShardByWeight(t *testing.T) {
	p := pickerFor(t, hotConfig(t, []float64{0, 2}, []float64{1, 3, 1}), allReady)
	count := map[string]int{}
	const calls = 4000
	for i := 0; i < calls; i++ {
		got, err := pickWith(p, "x-cache-shard", "0")
		if err != nil {
			t.Fatal(err)
		}
		count[got]++
	}
	if count[epC] != 0 {
		t.Fatalf("a non-reader got %d calls", count[epC])
	}
	if share := float64(count[epB]) / calls; math.Abs(share-0.75) > 0.05 {
		t.Fatalf("the weight-3 reader got %.3f of the calls, want 0.75 (%v)", share, count)
	}
	// Other shards still go to their primary alone.
	if got, _ := pickWith(p, "x-cache-shard", "1"); got != epB {
		t.Fatalf("shard 1 went to %s", got)
	}
	// A reader down: the other reader takes every call.
	down := pickerFor(t, hotConfig(t, []float64{0, 2}, nil), map[string]connectivity.State{epA: connectivity.TransientFailure, epB: connectivity.Ready, epC: connectivity.Ready})
	for i := 0; i < 50; i++ {
		if got, _ := pickWith(down, "x-cache-shard", "0"); got != epB {
			t.Fatalf("with the primary down a call went to %s", got)
		}
	}
}

func TestReadersConfigChecked(t *testing.T) {
	for name, raw := range map[string][]byte{
		"odd pairs":         hotConfig(t, []float64{0}, nil),
		"shard outside":     hotConfig(t, []float64{5, 2}, nil),
		"more than R":       hotConfig(t, []float64{0, 3}, nil),
		"one reader":        hotConfig(t, []float64{0, 1}, nil),
		"weights too short": hotConfig(t, []float64{0, 2}, []float64{1}),
		"zero weight":       hotConfig(t, []float64{0, 2}, []float64{1, 0, 1}),
	} {
		if _, err := parseConfig(raw); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	cfg, err := parseConfig(hotConfig(t, []float64{0, 2}, []float64{1, 3, 1}))
	if err != nil {
		t.Fatal(err)
	}
	again, err := cfg.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := parseConfig(again)
	if err != nil || back.Readers[0] != 2 || back.Weights[1] != 3 {
		t.Fatalf("round trip: %v %v", back, err)
	}
}
