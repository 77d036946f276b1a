package shardpicker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// grpc-go reads GRPC_XDS_BOOTSTRAP_CONFIG once, when the process starts, as it does in an
// application. So the xDS client runs in a process of its own: this test binary again, with
// probeEnv set, serving calls asked for on stdin (one JSON line each) and answering on stdout.
const probeEnv = "KEYWAY_GO_XDS_PROBE_TARGET"

func TestMain(m *testing.M) {
	if target := os.Getenv(probeEnv); target != "" {
		os.Exit(runProbe(target, os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

type probeRequest struct {
	ID           int      `json:"id"`
	MD           []string `json:"md"`
	WaitForReady bool     `json:"waitForReady"`
	TimeoutMs    int      `json:"timeoutMs"`
	CPU          bool     `json:"cpu"`   // no call: answer the probe's CPU seconds so far
	Stats        bool     `json:"stats"` // no call: answer the probe's goroutines and heap after a GC
}

type probeAnswer struct {
	ID     int    `json:"id"`
	Answer string `json:"answer,omitempty"`
	Code   uint32 `json:"code,omitempty"`
	Error  string `json:"error,omitempty"`
	// CPUSeconds is user + system CPU time of the probe process (getrusage), for a CPU request.
	CPUSeconds float64 `json:"cpuSeconds,omitempty"`
	// Goroutines and HeapBytes (after a GC), for a stats request (soak_test.go).
	Goroutines int    `json:"goroutines,omitempty"`
	HeapBytes  uint64 `json:"heapBytes,omitempty"`
}

func runProbe(target string, in io.Reader, out io.Writer) int {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var req probeRequest
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if req.CPU {
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
			mu.Lock()
			_ = enc.Encode(probeAnswer{ID: req.ID, CPUSeconds: cpu})
			mu.Unlock()
			continue
		}
		if req.Stats {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mu.Lock()
			_ = enc.Encode(probeAnswer{ID: req.ID, Goroutines: runtime.NumGoroutine(), HeapBytes: ms.HeapAlloc})
			mu.Unlock()
			continue
		}
		go func() {
			ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), metadata.Pairs(req.MD...)), time.Duration(req.TimeoutMs)*time.Millisecond)
			defer cancel()
			got, err := who(ctx, conn, grpc.WaitForReady(req.WaitForReady))
			a := probeAnswer{ID: req.ID, Answer: got}
			if err != nil {
				st := status.Convert(err)
				a.Code, a.Error = uint32(st.Code()), st.Message()
			}
			mu.Lock()
			_ = enc.Encode(a)
			mu.Unlock()
		}()
	}
	return 0
}

// xdsProbe drives a probe process from the test.
type xdsProbe struct {
	stdin   io.WriteCloser
	mu      sync.Mutex
	next    int
	waiting map[int]chan probeAnswer
}

// startProbe runs a grpc-go client of target with bootstrap in GRPC_XDS_BOOTSTRAP_CONFIG.
func startProbe(t *testing.T, target string, bootstrap []byte) *xdsProbe {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), probeEnv+"="+target, "GRPC_XDS_BOOTSTRAP_CONFIG="+string(bootstrap))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &xdsProbe{stdin: stdin, waiting: map[int]chan probeAnswer{}}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var a probeAnswer
			if json.Unmarshal(sc.Bytes(), &a) != nil {
				continue
			}
			p.mu.Lock()
			ch := p.waiting[a.ID]
			delete(p.waiting, a.ID)
			p.mu.Unlock()
			if ch != nil {
				ch <- a
			}
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return p
}

func (p *xdsProbe) call(timeout time.Duration, md []string, waitForReady bool) (string, error) {
	a, err := p.ask(probeRequest{MD: md, WaitForReady: waitForReady, TimeoutMs: int(timeout / time.Millisecond)}, timeout+5*time.Second)
	if err != nil {
		return "", err
	}
	if a.Error != "" || a.Code != 0 {
		return "", fmt.Errorf("code %d: %s", a.Code, a.Error)
	}
	return a.Answer, nil
}

// cpuSeconds is the probe process's CPU time so far.
func (p *xdsProbe) cpuSeconds() (float64, error) {
	a, err := p.ask(probeRequest{CPU: true}, 5*time.Second)
	return a.CPUSeconds, err
}

// stats is the probe process's goroutine count and heap after a GC.
func (p *xdsProbe) stats() (probeAnswer, error) {
	return p.ask(probeRequest{Stats: true}, 10*time.Second)
}

func (p *xdsProbe) ask(req probeRequest, bound time.Duration) (probeAnswer, error) {
	ch := make(chan probeAnswer, 1)
	p.mu.Lock()
	p.next++
	req.ID = p.next
	p.waiting[req.ID] = ch
	line, _ := json.Marshal(req)
	_, err := p.stdin.Write(append(line, '\n'))
	p.mu.Unlock()
	if err != nil {
		return probeAnswer{}, fmt.Errorf("the probe is gone: %w", err)
	}
	select {
	case a := <-ch:
		return a, nil
	case <-time.After(bound):
		return probeAnswer{}, fmt.Errorf("the probe did not answer in %v", bound)
	}
}
