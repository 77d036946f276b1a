// A stock grpc-go xDS client for the make-before-break tests (docs/xds.md "Make-before-break for
// stock gRPC clients"): it dials an xds:/// target (bootstrap from GRPC_XDS_BOOTSTRAP_CONFIG) and
// calls /keyway.test.Cache/Who without pause on every shard from several workers, half of them
// wait-for-ready, half fail-fast, each call carrying x-cache-shard. Commands on stdin, one a line:
// "reset" zeroes the counters, "report" prints {"ok":n,"failed":n,"errors":{...},"byNode":{...}}.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	_ "google.golang.org/grpc/xds" // registers the xds resolver and balancers
)

const method = "/keyway.test.Cache/Who"

// rawCodec passes bytes through: the test's servers answer with their name, not a protobuf.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

type counters struct {
	mu     sync.Mutex
	ok     int
	failed int
	errors map[string]int
	byNode map[string]int
}

func (c *counters) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ok, c.failed, c.errors, c.byNode = 0, 0, map[string]int{}, map[string]int{}
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: grpc-go-caller xds:///TARGET SHARDS WORKERS")
		os.Exit(2)
	}
	target := os.Args[1]
	shards, _ := strconv.Atoi(os.Args[2])
	workers, _ := strconv.Atoi(os.Args[3])
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	c := &counters{}
	c.reset()
	for w := 0; w < workers; w++ {
		waitForReady := w%2 == 0
		go func(w int) {
			for i := w; ; i++ {
				shard := i % shards
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				ctx = metadata.AppendToOutgoingContext(ctx, "x-cache-shard", strconv.Itoa(shard))
				var reply []byte
				err := conn.Invoke(ctx, method, &[]byte{}, &reply, grpc.ForceCodec(rawCodec{}), grpc.WaitForReady(waitForReady))
				cancel()
				c.mu.Lock()
				if err != nil {
					c.failed++
					c.errors[err.Error()]++
				} else {
					c.ok++
					c.byNode[string(reply)]++
				}
				c.mu.Unlock()
				if err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}(w)
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "reset":
			c.reset()
			fmt.Println(`{}`)
		case "report":
			c.mu.Lock()
			out, _ := json.Marshal(map[string]any{"ok": c.ok, "failed": c.failed, "errors": c.errors, "byNode": c.byNode})
			c.mu.Unlock()
			fmt.Println(string(out))
		}
	}
}
