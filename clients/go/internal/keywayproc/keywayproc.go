// Package keywayproc runs the compiled keyway CLI (`keyway serve`) for the end-to-end tests of the
// Go packages (shardmap, shardpicker): found the same way, started and stopped the same way.
// Internal: not part of the client API.
package keywayproc

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// CLI finds the compiled keyway CLI (bin/keyway.js over dist/, built by `npm run build`):
// KEYWAY_BIN, else the repository's own, seen from a package folder of clients/go. The test skips
// without it, unless KEYWAY_REQUIRE_E2E=1 (scripts/test-clients.sh and .ci/run set it, and build
// first).
func CLI(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("KEYWAY_BIN")
	if bin == "" {
		bin, _ = filepath.Abs(filepath.Join("..", "..", "..", "bin", "keyway.js"))
	}
	_, errBin := os.Stat(bin)
	_, errDist := os.Stat(filepath.Join(filepath.Dir(bin), "..", "dist", "src", "cli", "main.js"))
	_, errNode := exec.LookPath("node")
	if err := errors.Join(errBin, errDist, errNode); err != nil {
		if os.Getenv("KEYWAY_REQUIRE_E2E") == "1" {
			t.Fatalf("keyway CLI not runnable (build it: npm run build): %v", err)
		}
		t.Skipf("keyway CLI not runnable (npm run build; KEYWAY_REQUIRE_E2E=1 makes this a failure): %v", err)
	}
	return bin
}

// Buffer is keyway's output so far, written by the goroutine that reads it and read by the test.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Serve runs `keyway serve args...` in a process group of its own, its output (stdout and stderr,
// one JSON record per line) kept in logs, and waits up to 60 s for its "listening" record, which
// it returns (httpPort, xdsPort). stop sends SIGTERM, kills it 5 s later if it is still running,
// and waits; the test's cleanup calls it too.
func Serve(t testing.TB, args ...string) (listening map[string]any, logs *Buffer, stop func()) {
	t.Helper()
	logs = &Buffer{}
	cmd := exec.Command("node", append([]string{CLI(t), "serve"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	t.Cleanup(stop)
	records := make(chan map[string]any, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited) // keyway's output ended: it exited
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			_, _ = logs.Write([]byte(sc.Text() + "\n"))
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "listening" {
				records <- rec
			}
		}
	}()
	select {
	case rec := <-records:
		return rec, logs, stop
	case <-exited:
		t.Fatalf("keyway exited before it listened:\n%s", logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("keyway did not start in 60 s:\n%s", logs.String())
	}
	return nil, logs, stop
}
