package shardpicker

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"

	keyway "github.com/keyway/keyway/clients/go"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// endpointView is what the picker knows of one endpoint of the config: whether EDS listed it (a
// child policy exists for it), that child's state and its picker.
type endpointView struct {
	present bool
	state   connectivity.State
	picker  balancer.Picker
}

// shardPicker routes one call to an owner of its shard (the picker behaviour of the shard-picker
// contract, docs/clients.md). It is immutable: the balancer builds a new one on every change.
type shardPicker struct {
	cfg       *Config
	endpoints []endpointView // indexed like cfg.Endpoints
	ready     []balancer.Picker
	pending   bool // some child is CONNECTING or IDLE (and about to connect)
	// noEndpoints, when not empty, says why there is no child at all: calls then fail instead of
	// waiting for owners that EDS does not list.
	noEndpoints string
	next        atomic.Uint32
}

// errNoShard: the call names no shard and the config lets it go anywhere.
var errNoShard = errors.New("no shard")

// Pick implements balancer.Picker. Errors that are the caller's fault are status errors
// (INVALID_ARGUMENT: grpc-go ends the call with them, see docs/clients.md for how grpc-go reports
// them); unreachable owners are plain errors, which grpc-go turns into UNAVAILABLE for a fail-fast
// call and waits on for a wait-for-ready one, like any other load-balancing policy.
func (p *shardPicker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	if p.cfg == nil {
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	md, _ := metadata.FromOutgoingContext(info.Ctx)
	shard, err := shardOf(p.cfg, md)
	if errors.Is(err, errNoShard) {
		return p.pickAny(info)
	}
	if err != nil {
		return balancer.PickResult{}, err
	}
	return p.pickOwner(shard, info)
}

// shardOf reads the call's shard: the shard header, else the key header hashed by hash contract 1,
// else errNoShard (missingHeader any) or INVALID_ARGUMENT (reject).
func shardOf(cfg *Config, md metadata.MD) (uint32, error) {
	if v := md.Get(cfg.ShardHeader); len(v) > 0 {
		if len(v) > 1 {
			return 0, sentOnce(cfg.ShardHeader, len(v))
		}
		// ParseUint takes decimal digits only (no sign, no spaces, no underscores in base 10); a
		// leading zero is refused as Envoy's shard route and keyway's endpoint picker refuse it.
		s, err := strconv.ParseUint(v[0], 10, 32)
		if err != nil || s >= uint64(cfg.ShardCount) || (len(v[0]) > 1 && v[0][0] == '0') {
			return 0, status.Errorf(codes.InvalidArgument, "%s is %q, not a shard number in [0, %d)", cfg.ShardHeader, v[0], cfg.ShardCount)
		}
		return uint32(s), nil
	}
	if cfg.KeyHeader != "" {
		if v := md.Get(cfg.KeyHeader); len(v) > 0 {
			if len(v) > 1 {
				return 0, sentOnce(cfg.KeyHeader, len(v))
			}
			return keyway.ShardFor(v[0], cfg.ShardCount), nil
		}
	}
	if cfg.MissingHeader == MissingAny {
		return 0, errNoShard
	}
	// The messages are those of keyway's grpc-js picker (src/grpc/shard-choice.ts), word for word,
	// without its "keyway.shard_picker: " prefix.
	if cfg.KeyHeader != "" {
		return 0, status.Errorf(codes.InvalidArgument, "the call carries no %s or %s metadata", cfg.ShardHeader, cfg.KeyHeader)
	}
	return 0, status.Errorf(codes.InvalidArgument, "the call carries no %s metadata", cfg.ShardHeader)
}

// sentOnce is the error for a shard or key header sent more than once: which value would win
// differs between data planes, so none does (the message is the grpc-js picker's).
func sentOnce(name string, n int) error {
	return status.Errorf(codes.InvalidArgument, "%s must be sent once, got %d values", name, n)
}

// pickOwner takes the first READY owner of shard, primary first; it queues the call while an
// owner is still connecting, or not yet in the EDS endpoints (when EDS lists some). A hot shard
// read by k owners (Config.Readers) goes to one of its first k READY owners, drawn by weight.
func (p *shardPicker) pickOwner(shard uint32, info balancer.PickInfo) (balancer.PickResult, error) {
	if k := p.cfg.Readers[shard]; k > 1 {
		if e, ok := p.pickReader(shard, k, rand.Float64()); ok {
			return e.picker.Pick(info)
		}
	}
	owned, pending := false, false
	for _, i := range p.cfg.OwnersOf(shard) {
		if i == NoOwner {
			continue
		}
		owned = true
		e := p.endpoints[i]
		if !e.present {
			// CDS names it but EDS does not list it yet (grpc-go applies a CDS update with the EDS
			// it has): its connection is about to exist, as keyway's grpc-js picker takes it too.
			// Not when EDS lists nothing at all: that is no half-applied update.
			pending = pending || p.noEndpoints == ""
			continue
		}
		switch e.state {
		case connectivity.Ready:
			return e.picker.Pick(info)
		case connectivity.Connecting, connectivity.Idle:
			pending = true
		}
	}
	if !owned {
		return balancer.PickResult{}, fmt.Errorf("shard %d has no owner", shard)
	}
	if pending {
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	if p.noEndpoints != "" {
		return balancer.PickResult{}, fmt.Errorf("no owner of shard %d is reachable: %s", shard, p.noEndpoints)
	}
	return balancer.PickResult{}, fmt.Errorf("no owner of shard %d is reachable", shard)
}

// pickReader draws one of shard's first k owners that is READY, by weight, with u in [0, 1).
func (p *shardPicker) pickReader(shard uint32, k int, u float64) (endpointView, bool) {
	owners := p.cfg.OwnersOf(shard)
	weight := func(i uint16) float64 {
		if p.cfg.Weights == nil {
			return 1
		}
		return p.cfg.Weights[i]
	}
	total := 0.0
	var ready []uint16
	for _, i := range owners[:min(k, len(owners))] {
		if i == NoOwner || !p.endpoints[i].present || p.endpoints[i].state != connectivity.Ready {
			continue
		}
		ready = append(ready, i)
		total += weight(i)
	}
	if len(ready) == 0 {
		return endpointView{}, false
	}
	x := u * total
	for _, i := range ready {
		x -= weight(i)
		if x < 0 {
			return p.endpoints[i], true
		}
	}
	return p.endpoints[ready[len(ready)-1]], true
}

// pickAny sends a call without a shard to the READY endpoints in turn (missingHeader any).
func (p *shardPicker) pickAny(info balancer.PickInfo) (balancer.PickResult, error) {
	if len(p.ready) == 0 {
		if p.pending {
			return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
		}
		if p.noEndpoints != "" {
			return balancer.PickResult{}, errors.New("no endpoint is reachable: " + p.noEndpoints)
		}
		return balancer.PickResult{}, errors.New("no endpoint is reachable")
	}
	n := p.next.Add(1)
	return p.ready[int(n%uint32(len(p.ready)))].Pick(info)
}
