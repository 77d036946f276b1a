package shardpicker_test

import (
	"context"
	"fmt"
	"os"
	"strconv"

	keyway "github.com/keyway/keyway/clients/go"
	"github.com/keyway/keyway/clients/go/shardpicker" // registers keyway.shard_picker
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	_ "google.golang.org/grpc/xds" // xds:/// and grpc-go's xDS client
)

// The bootstrap goes to the process that dials (grpc-go reads GRPC_XDS_BOOTSTRAP_CONFIG when it
// starts); the calls carry the shard, or the key for the policy to hash.
func Example() {
	boot, err := shardpicker.Bootstrap("keyway.keyway.svc:18000", "checkout-7f9c")
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(os.Stderr, "GRPC_XDS_BOOTSTRAP_CONFIG=%s\n", boot)

	conn, err := grpc.NewClient("xds:///keyway-cache", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	key := "{user:42}:cart"
	ctx := metadata.AppendToOutgoingContext(context.Background(), keyway.ShardHeader, strconv.FormatUint(uint64(keyway.ShardFor(key, 1024)), 10))
	_ = ctx // conn.Invoke(ctx, ...) or a generated client's method
	// or: metadata.AppendToOutgoingContext(ctx, keyway.KeyHeader, key)
}
