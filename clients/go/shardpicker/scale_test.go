package shardpicker

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestXDSScale measures what one grpc-go xDS client spends to take an ownership change from
// `keyway serve`: the CPU seconds of the client process (getrusage) and the wall time from the
// topology file write until sampled moved shards answer from their new primaries. It runs only
// with KEYWAY_GO_SCALE=1 (docs/benchmarks.md, "grpc-go shard picker"):
//
//	KEYWAY_GO_SCALE=1 KEYWAY_GO_SCALE_MODE=picker|stock KEYWAY_GO_SCALE_SHARDS=16384 \
//	  KEYWAY_GO_SCALE_NODES=64 KEYWAY_GO_SCALE_CHANGES=5 go test -run TestXDSScale -v ./shardpicker/
//
// picker: the bootstrap carries the picker metadata (one cluster); stock: it does not (one route
// per shard, one cluster per owner tuple). Changes alternate: the last node leaves, it comes back.
func TestXDSScale(t *testing.T) {
	if os.Getenv("KEYWAY_GO_SCALE") != "1" {
		t.Skip("a measurement: KEYWAY_GO_SCALE=1 runs it")
	}
	envInt := func(name string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
			return v
		}
		return def
	}
	shards, nodes, changes := envInt("KEYWAY_GO_SCALE_SHARDS", 16384), envInt("KEYWAY_GO_SCALE_NODES", 64), envInt("KEYWAY_GO_SCALE_CHANGES", 5)
	mode := os.Getenv("KEYWAY_GO_SCALE_MODE")
	if mode == "" {
		mode = "picker"
	}
	const sample = 64 // shards checked per step, spread over the moved ones

	var backends []*backend
	for i := range nodes {
		backends = append(backends, startBackend(t, fmt.Sprintf("node-%d", i)))
	}
	topo := filepath.Join(t.TempDir(), "topology.yaml")
	writeTopology(t, topo, shards, backends)
	k := startKeyway(t, topo)

	boot, err := Bootstrap(k.xdsAddr, "grpc-go-scale")
	if err != nil {
		t.Fatal(err)
	}
	if mode == "stock" {
		boot, _ = json.Marshal(map[string]any{
			"xds_servers": []map[string]any{{"server_uri": k.xdsAddr, "channel_creds": []map[string]string{{"type": "insecure"}}, "server_features": []string{"xds_v3"}}},
			"node":        map[string]any{"id": "grpc-go-scale"},
		})
	}
	f := &channelFixture{t: t, backends: backends, wait: 300 * time.Second}
	start := time.Now()
	f.probe = startProbe(t, "xds:///keyway-cache", boot)
	m := k.shardMap(t)
	for i := range sample {
		s := m.Shards[i*shards/sample]
		f.until(s.Owners[0], "x-cache-shard", strconv.Itoa(int(s.Shard)))
	}
	cpu, err := f.probe.cpuSeconds()
	if err != nil {
		t.Fatal(err)
	}
	initialWall := time.Since(start).Seconds()
	t.Logf("%s S=%d nodes=%d initial sync: wall %.2f s, client CPU %.2f s", mode, shards, nodes, initialWall, cpu)

	var walls, cpus []float64
	for c := range changes {
		time.Sleep(time.Second) // the client settles: connections, ACKs
		cpu0, err := f.probe.cpuSeconds()
		if err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		if c%2 == 0 {
			writeTopology(t, topo, shards, backends[:nodes-1])
		} else {
			writeTopology(t, topo, shards, backends)
		}
		next := k.shardMap(t)
		for ; next.Version == m.Version; next = k.shardMap(t) {
			if time.Since(begin) > time.Minute {
				t.Fatal("keyway did not take the new topology")
			}
			time.Sleep(20 * time.Millisecond)
		}
		var moved []int
		for i, s := range next.Shards {
			if s.Owners[0] != m.Shards[i].Owners[0] {
				moved = append(moved, i)
			}
		}
		if len(moved) == 0 {
			t.Fatal("no primary moved")
		}
		for i := range min(sample, len(moved)) {
			s := next.Shards[moved[i*len(moved)/min(sample, len(moved))]]
			f.until(s.Owners[0], "x-cache-shard", strconv.Itoa(int(s.Shard)))
		}
		wall := time.Since(begin).Seconds()
		cpu1, err := f.probe.cpuSeconds()
		if err != nil {
			t.Fatal(err)
		}
		walls, cpus = append(walls, wall), append(cpus, cpu1-cpu0)
		t.Logf("%s change %d: %d primaries moved; wall %.3f s, client CPU %.3f s", mode, c+1, len(moved), wall, cpu1-cpu0)
		m = next
	}
	t.Logf("%s S=%d nodes=%d, %d changes: client CPU median %.3f s (min %.3f, max %.3f); wall median %.3f s (min %.3f, max %.3f)",
		mode, shards, nodes, changes, median(cpus), slices.Min(cpus), slices.Max(cpus), median(walls), slices.Min(walls), slices.Max(walls))
	if out := os.Getenv("KEYWAY_GO_SCALE_OUT"); out != "" { // one JSON line per run, for benchmarks/grpc-go-picker/run.sh
		line, _ := json.Marshal(map[string]any{
			"mode": mode, "shards": shards, "nodes": nodes, "changes": changes,
			"initialSync":      map[string]float64{"wallSeconds": initialWall, "clientCpuSeconds": cpu},
			"clientCpuSeconds": cpus, "wallSeconds": walls,
			"clientCpuMedian": median(cpus), "wallMedian": median(walls),
		})
		fh, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		if _, err := fh.Write(append(line, '\n')); err != nil {
			t.Fatal(err)
		}
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
