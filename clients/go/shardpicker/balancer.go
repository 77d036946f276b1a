// Package shardpicker is keyway's shard-picking load-balancing policy for grpc-go
// ("keyway.shard_picker", docs/clients.md "Go: the shard-picking balancer" and docs/xds.md in the
// keyway repository). keyway gives a client that announces the policy (node metadata
// keyway.shard_picker = "v1", see Bootstrap) one route to one cluster whose CDS
// load_balancing_policy carries the shard table (gRFC A52 custom policies, a TypedStruct), and the
// cluster's endpoints by EDS. The policy keeps one pick_first child per endpoint and sends each call
// to the first READY owner of the call's shard: the x-cache-shard metadata, or hash contract 1 of
// the key metadata.
//
// Import it for its side effect, before dialing xds:///:
//
//	import _ "github.com/keyway/keyway/clients/go/shardpicker"
package shardpicker

import (
	"encoding/json"
	"fmt"
	"sync"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/balancer/pickfirst"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/serviceconfig"
)

// Name is the policy's name in grpc-go's balancer registry. grpc-go's xDS client takes it from the
// last path segment of the TypedStruct's type_url, type.googleapis.com/keyway.shard_picker.
const Name = "keyway.shard_picker"

func init() {
	balancer.Register(builder{})
}

type builder struct{}

func (builder) Name() string { return Name }

// ParseConfig implements balancer.ConfigParser: the TypedStruct's value as JSON, shard-picker
// contract version 1. An error makes grpc-go's xDS client NACK the cluster.
func (builder) ParseConfig(raw json.RawMessage) (serviceconfig.LoadBalancingConfig, error) {
	return parseConfig(raw)
}

func (builder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	b := &shardBalancer{cc: cc}
	b.Balancer = endpointsharding.NewBalancer(childrenCC{ClientConn: cc, b: b}, opts, balancer.Get(pickfirst.Name).Build, endpointsharding.Options{})
	return b
}

// shardBalancer is a petiole policy (gRFC A61): endpointsharding keeps one pick_first child per
// EDS endpoint, reconnects children that go IDLE, and reports their states; this balancer only
// replaces the round-robin picker endpointsharding builds with a shardPicker.
type shardBalancer struct {
	balancer.Balancer // endpointsharding
	cc                balancer.ClientConn

	mu          sync.Mutex
	cfg         *Config
	resolverErr error // the last resolver error since the last config, for calls when EDS lists no endpoint
}

func (b *shardBalancer) UpdateClientConnState(ccs balancer.ClientConnState) error {
	cfg, ok := ccs.BalancerConfig.(*Config)
	if !ok {
		return fmt.Errorf("%s: got a config of type %T", Name, ccs.BalancerConfig)
	}
	b.mu.Lock()
	b.cfg = cfg
	b.resolverErr = nil
	b.mu.Unlock()
	// The children are pick_first: they get no config of ours. The health listener lets outlier
	// detection (which grpc-go puts above the cluster's policy) eject an endpoint.
	return b.Balancer.UpdateClientConnState(balancer.ClientConnState{ResolverState: pickfirst.EnableHealthListener(ccs.ResolverState)})
}

// ResolverError keeps err for the picker: endpointsharding passes it to the children only, so
// without it a call that fails for want of any endpoint could not say why.
func (b *shardBalancer) ResolverError(err error) {
	b.mu.Lock()
	b.resolverErr = err
	b.mu.Unlock()
	b.Balancer.ResolverError(err)
}

// childrenCC is the ClientConn endpointsharding reports to; it turns each report into a shardPicker.
type childrenCC struct {
	balancer.ClientConn
	b *shardBalancer
}

// UpdateState is called by endpointsharding, serialized under its own lock, after a config change
// (synchronously, inside UpdateClientConnState) and on every child state change.
func (c childrenCC) UpdateState(s balancer.State) {
	c.b.mu.Lock()
	cfg, resolverErr := c.b.cfg, c.b.resolverErr
	c.b.mu.Unlock()
	p := newShardPicker(cfg, endpointsharding.ChildStatesFromPicker(s.Picker))
	if p.noEndpoints != "" && resolverErr != nil {
		p.noEndpoints += fmt.Sprintf(" (name resolver error: %v)", resolverErr)
	}
	c.b.cc.UpdateState(balancer.State{ConnectivityState: s.ConnectivityState, Picker: p})
}

// newShardPicker matches endpointsharding's children to the config's endpoints by address.
func newShardPicker(cfg *Config, children []endpointsharding.ChildState) *shardPicker {
	p := &shardPicker{cfg: cfg}
	if len(children) == 0 {
		// EDS lists no endpoint (or none has come): an owner missing from it is not about to
		// connect, and nothing else is, so queued calls would only wait for their deadline.
		p.noEndpoints = "the cluster has no endpoints"
	}
	if cfg != nil {
		p.endpoints = make([]endpointView, len(cfg.Endpoints))
	}
	for _, child := range children {
		st := child.State.ConnectivityState
		switch st {
		case connectivity.Ready:
			p.ready = append(p.ready, child.State.Picker)
		case connectivity.Connecting, connectivity.Idle:
			p.pending = true
		}
		if cfg == nil {
			continue
		}
		for _, a := range child.Endpoint.Addresses {
			addr, ok := canonicalAddr(a.Addr)
			if !ok {
				continue
			}
			if i, ok := cfg.index[addr]; ok {
				p.endpoints[i] = endpointView{present: true, state: st, picker: child.State.Picker}
				break
			}
		}
	}
	return p
}
