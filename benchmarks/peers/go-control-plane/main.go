// The go-control-plane peer of the xDS fan-out benchmark (benchmarks/xds, docs/benchmarks.md
// "xDS fan-out"): an ADS server (SotW and delta) built on go-control-plane's snapshot cache that
// serves resources dumped from keyway. Every node shares one snapshot (one node-hash group), as
// every Envoy shares one snapshot in keyway. The harness tells it which dump to serve:
//
//	peer -xds-port N -control-port M -dump FILE
//	POST http://127.0.0.1:M/load?file=FILE&version=V  -> parses FILE and sets the snapshot as version V
//
// A dump is JSON: {"version": "...", "resources": {"<type url>": [{"name": "...", "any": "<base64 Any>"}]}}.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/types/known/anypb"

	// The top-level resource types, registered for anypb.UnmarshalNew.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

type dump struct {
	Version   string `json:"version"`
	Resources map[string][]struct {
		Name string `json:"name"`
		Any  string `json:"any"`
	} `json:"resources"`
}

// oneGroup puts every node in one snapshot group.
type oneGroup struct{}

func (oneGroup) ID(*corev3Node) string { return "all" }

func load(snapshots cachev3.SnapshotCache, file, version string) (string, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var d dump
	if err := json.Unmarshal(raw, &d); err != nil {
		return "", err
	}
	byType := map[string][]types.Resource{}
	for typeURL, list := range d.Resources {
		for _, r := range list {
			b, err := base64.StdEncoding.DecodeString(r.Any)
			if err != nil {
				return "", err
			}
			a := &anypb.Any{}
			if err := protoUnmarshal(b, a); err != nil {
				return "", err
			}
			m, err := a.UnmarshalNew()
			if err != nil {
				return "", fmt.Errorf("%s %s: %w", typeURL, r.Name, err)
			}
			byType[typeURL] = append(byType[typeURL], m)
		}
	}
	if version == "" {
		version = d.Version
	}
	snap, err := cachev3.NewSnapshot(version, byType)
	if err != nil {
		return "", err
	}
	if err := snapshots.SetSnapshot(context.Background(), "all", snap); err != nil {
		return "", err
	}
	return version, nil
}

func main() {
	xdsPort := flag.Int("xds-port", 18000, "ADS port")
	controlPort := flag.Int("control-port", 18001, "control HTTP port")
	first := flag.String("dump", "", "first dump to serve")
	flag.Parse()

	snapshots := cachev3.NewSnapshotCache(false, oneGroup{}, nil)
	if *first != "" {
		if _, err := load(snapshots, *first, ""); err != nil {
			log.Fatal(err)
		}
	}
	srv := serverv3.NewServer(context.Background(), snapshots, nil)
	g := grpc.NewServer(
		grpc.MaxConcurrentStreams(1_000_000),
		grpc.KeepaliveParams(keepalive.ServerParameters{}),
	)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, srv)
	endpointservice.RegisterEndpointDiscoveryServiceServer(g, srv)
	clusterservice.RegisterClusterDiscoveryServiceServer(g, srv)
	routeservice.RegisterRouteDiscoveryServiceServer(g, srv)
	listenerservice.RegisterListenerDiscoveryServiceServer(g, srv)

	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *xdsPort))
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("/load", func(w http.ResponseWriter, r *http.Request) {
		v, err := load(snapshots, r.URL.Query().Get("file"), r.URL.Query().Get("version"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, v)
	})
	go func() { log.Fatal(http.ListenAndServe(fmt.Sprintf("127.0.0.1:%d", *controlPort), nil)) }()
	fmt.Println("ready")
	log.Fatal(g.Serve(lis))
}
