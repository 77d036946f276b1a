package shardpicker

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// encodeOwners writes an owner table as the contract's base64 of little-endian uint16s: owners[s]
// lists shard s's endpoint indexes, primary first; ranks past the end are NoOwner.
func encodeOwners(replicas int, owners [][]int) string {
	buf := make([]byte, 2*replicas*len(owners))
	for s, list := range owners {
		for k := 0; k < replicas; k++ {
			v := uint16(NoOwner)
			if k < len(list) {
				v = uint16(list[k])
			}
			binary.LittleEndian.PutUint16(buf[2*(s*replicas+k):], v)
		}
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// configJSON is a contract-version-1 config, as keyway writes it into the cluster's TypedStruct.
func configJSON(t *testing.T, keyHeader, missing string, endpoints []string, replicas int, owners [][]int) []byte {
	t.Helper()
	raw, err := json.Marshal(map[string]any{
		"shardCount":    len(owners),
		"shardHeader":   "x-cache-shard",
		"keyHeader":     keyHeader,
		"missingHeader": missing,
		"endpoints":     endpoints,
		"owners":        encodeOwners(replicas, owners),
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// whoMethod is the one method the test servers answer, with their own name, whatever the service.
const whoMethod = "/keyway.test.Cache/Who"

// backend is a gRPC server that answers every call with its name; stop and start keep its port,
// as a cache node that restarts does.
type backend struct {
	name string
	addr string
	mu   sync.Mutex
	srv  *grpc.Server
	// open, when set, counts the server side's open connections (soak_test.go).
	open *atomic.Int64
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name, addr: "127.0.0.1:0"}
	if err := b.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	return b
}

func (b *backend) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		return nil
	}
	lis, err := net.Listen("tcp", b.addr)
	if err != nil {
		return err
	}
	b.addr = lis.Addr().String()
	if b.open != nil {
		lis = connCounter{Listener: lis, open: b.open}
	}
	b.srv = grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		var in wrapperspb.StringValue
		if err := stream.RecvMsg(&in); err != nil {
			return err
		}
		return stream.SendMsg(wrapperspb.String(b.name))
	}))
	go func(s *grpc.Server) { _ = s.Serve(lis) }(b.srv)
	return nil
}

// stop closes the listener and every connection at once, as a node that dies does.
func (b *backend) stop() {
	b.mu.Lock()
	s := b.srv
	b.srv = nil
	b.mu.Unlock()
	if s != nil {
		s.Stop()
	}
}

// who makes one call on conn; the answer is the name of the server that took it.
func who(ctx context.Context, conn *grpc.ClientConn, opts ...grpc.CallOption) (string, error) {
	var out wrapperspb.StringValue
	if err := conn.Invoke(ctx, whoMethod, wrapperspb.String(""), &out, opts...); err != nil {
		return "", err
	}
	return out.Value, nil
}
