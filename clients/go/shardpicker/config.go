package shardpicker

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"reflect"
	"strconv"
	"strings"

	"google.golang.org/grpc/serviceconfig"
)

// NoOwner marks an empty rank in the owner table: the shard has fewer owners than the table has ranks.
const NoOwner = 0xFFFF

// MaxShards bounds shardCount, as keyway's topology file does (docs/errors.md, CONFIG_INVALID).
const MaxShards = 1 << 20

// maxEndpoints: owner entries are 16-bit indexes and 0xFFFF means "no owner", so 65535 endpoints at most.
const maxEndpoints = NoOwner

// Missing-header behaviours, the values of the config's "missingHeader".
const (
	MissingAny    = "any"
	MissingReject = "reject"
)

// ConfigError is a shard-picker config that keyway's contract does not allow (docs/clients.md,
// "Go: the shard-picking balancer"). grpc-go rejects the cluster that carries it (an xDS NACK), so
// the client keeps the cluster it had.
type ConfigError struct {
	Field   string // the JSON field at fault
	Message string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s config: %s: %s", Name, e.Field, e.Message)
}

// wireConfig is the JSON that keyway puts in the cluster's TypedStruct (contract version 1).
// The numbers are float64, as JSON.parse reads them in keyway's grpc-js reader: 4.0 and 4e0 are the
// integer 4 there, so they are here.
type wireConfig struct {
	Version       *float64 `json:"version,omitempty"`
	ShardCount    *float64 `json:"shardCount"`
	ShardHeader   string   `json:"shardHeader"`
	KeyHeader     string   `json:"keyHeader"`
	MissingHeader string   `json:"missingHeader"`
	Endpoints     []string `json:"endpoints"`
	Owners        string   `json:"owners"`
	// Hot shards (keyway docs/hot-shards.md), optional: [shard, k, shard, k, ...] and one weight per endpoint.
	Readers []float64 `json:"readers,omitempty"`
	Weights []float64 `json:"weights,omitempty"`
}

// Config is a parsed shard-picker config: the shard table of one cluster.
type Config struct {
	serviceconfig.LoadBalancingConfig

	ShardCount    uint32
	ShardHeader   string // lower case, as gRPC metadata keys are
	KeyHeader     string // "" when calls are not hashed by key
	MissingHeader string // MissingAny or MissingReject
	// Endpoints are the canonical "host:port" of each endpoint (net.JoinHostPort form), in the
	// config's order: owner entries index this slice.
	Endpoints []string
	// Replicas is R, the ranks per shard in Owners.
	Replicas int
	// Owners holds ShardCount*Replicas endpoint indexes: entry s*R+k is shard s's k-th owner
	// (k = 0 the primary), NoOwner for an empty rank.
	Owners []uint16
	// Readers maps a hot shard to how many of its first owners share its calls (k >= 2); absent
	// shards go to the primary alone. Weights (by endpoint index; nil: equal) weigh the spread.
	Readers map[uint32]int
	Weights []float64

	index map[string]int // canonical address -> index in Endpoints
}

// OwnersOf returns shard s's owner indexes, primary first (NoOwner entries included).
func (c *Config) OwnersOf(s uint32) []uint16 {
	r := c.Replicas
	return c.Owners[int(s)*r : int(s)*r+r]
}

// MarshalJSON writes c back in the contract's JSON. grpc-go needs it: its xDS balancers embed the
// parsed config in the JSON of their own children's configs and parse it again.
func (c *Config) MarshalJSON() ([]byte, error) {
	table := make([]byte, 2*len(c.Owners))
	for i, v := range c.Owners {
		binary.LittleEndian.PutUint16(table[2*i:], v)
	}
	shards := float64(c.ShardCount)
	var readers []float64
	for s := uint32(0); s < c.ShardCount && len(c.Readers) > 0; s++ {
		if k, ok := c.Readers[s]; ok {
			readers = append(readers, float64(s), float64(k))
		}
	}
	return json.Marshal(wireConfig{
		ShardCount:    &shards,
		ShardHeader:   c.ShardHeader,
		KeyHeader:     c.KeyHeader,
		MissingHeader: c.MissingHeader,
		Endpoints:     c.Endpoints,
		Owners:        base64.StdEncoding.EncodeToString(table),
		Readers:       readers,
		Weights:       c.Weights,
	})
}

// parseConfig checks raw against contract version 1. Unknown fields are ignored, so that a newer
// keyway can add fields an older client does not need.
func parseConfig(raw []byte) (*Config, error) {
	w, err := decodeWire(raw)
	if err != nil {
		// Name the field a value of the wrong JSON type is in, as the checks below do.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, &ConfigError{Field: te.Field, Message: fmt.Sprintf("a JSON %s where %s is expected", te.Value, jsonKind(te.Type))}
		}
		if errors.As(err, &te) {
			return nil, &ConfigError{Field: "(config)", Message: fmt.Sprintf("a JSON %s where an object is expected", te.Value)}
		}
		return nil, &ConfigError{Field: "(config)", Message: fmt.Sprintf("not valid JSON: %v", err)}
	}
	if w.Version != nil && *w.Version != 1 {
		return nil, &ConfigError{Field: "version", Message: fmt.Sprintf("this client implements version 1, got %v", *w.Version)}
	}
	if w.ShardCount == nil || *w.ShardCount != math.Trunc(*w.ShardCount) || *w.ShardCount < 1 || *w.ShardCount > MaxShards {
		got := "nothing"
		if w.ShardCount != nil {
			got = strconv.FormatFloat(*w.ShardCount, 'g', -1, 64)
		}
		return nil, &ConfigError{Field: "shardCount", Message: fmt.Sprintf("must be an integer from 1 to %d, got %s", MaxShards, got)}
	}
	c := &Config{
		ShardCount:    uint32(*w.ShardCount),
		ShardHeader:   strings.ToLower(w.ShardHeader),
		KeyHeader:     strings.ToLower(w.KeyHeader),
		MissingHeader: w.MissingHeader,
	}
	if c.ShardHeader == "" {
		return nil, &ConfigError{Field: "shardHeader", Message: "must not be empty"}
	}
	switch c.MissingHeader {
	case "": // absent: reject, as keyway's own reader (src/core/shard-picker.ts) takes it
		c.MissingHeader = MissingReject
	case MissingAny, MissingReject:
	default:
		return nil, &ConfigError{Field: "missingHeader", Message: fmt.Sprintf("must be %q or %q, got %q", MissingAny, MissingReject, c.MissingHeader)}
	}
	// Absent or null: not a config keyway writes ([] when nothing serves). Refused, as keyway's
	// grpc-js reader refuses it, so the client keeps its cluster instead of failing every shard.
	if w.Endpoints == nil {
		return nil, &ConfigError{Field: "endpoints", Message: "missing: must be the list of endpoints, ip:port each"}
	}
	if len(w.Endpoints) > maxEndpoints {
		return nil, &ConfigError{Field: "endpoints", Message: fmt.Sprintf("at most %d, got %d", maxEndpoints, len(w.Endpoints))}
	}
	seen := make(map[string]int, len(w.Endpoints))
	c.Endpoints = make([]string, len(w.Endpoints))
	for i, e := range w.Endpoints {
		addr, ok := canonicalAddr(e)
		if !ok {
			return nil, &ConfigError{Field: fmt.Sprintf("endpoints[%d]", i), Message: fmt.Sprintf("must be ip:port, got %q", e)}
		}
		if j, dup := seen[addr]; dup {
			return nil, &ConfigError{Field: fmt.Sprintf("endpoints[%d]", i), Message: fmt.Sprintf("%q is also endpoints[%d]", e, j)}
		}
		seen[addr] = i
		c.Endpoints[i] = addr
	}
	c.index = seen
	table, err := base64.StdEncoding.DecodeString(w.Owners)
	if err != nil {
		return nil, &ConfigError{Field: "owners", Message: fmt.Sprintf("not base64: %v", err)}
	}
	per := 2 * int(c.ShardCount)
	if len(table)%per != 0 {
		return nil, &ConfigError{Field: "owners", Message: fmt.Sprintf("%d bytes is not a whole number of ranks (2 bytes x %d shards each)", len(table), c.ShardCount)}
	}
	c.Replicas = len(table) / per
	c.Owners = make([]uint16, len(table)/2)
	for i := range c.Owners {
		v := binary.LittleEndian.Uint16(table[2*i:])
		if v != NoOwner && int(v) >= len(c.Endpoints) {
			r := c.Replicas
			return nil, &ConfigError{Field: "owners", Message: fmt.Sprintf("shard %d rank %d names endpoint %d, but there are %d endpoints", i/r, i%r, v, len(c.Endpoints))}
		}
		c.Owners[i] = v
	}
	return c, parseReaders(c, w)
}

// wireKeys are the keys of wireConfig, spelled as the contract spells them.
var wireKeys = func() []string {
	t := reflect.TypeFor[wireConfig]()
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return keys
}()

// decodeWire reads the object's contract keys as spelled, and ignores every other key.
// encoding/json alone matches keys case-insensitively ("Owners" would fill owners, the last
// spelling winning), while JSON.parse in keyway's grpc-js reader does not: there such a key is an
// unknown field, and both pickers must read a config alike. A value that is no object is an error.
func decodeWire(raw []byte) (wireConfig, error) {
	var w wireConfig
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return w, err
	}
	fields := reflect.ValueOf(&w).Elem()
	for i, key := range wireKeys {
		value, ok := obj[key]
		if !ok {
			continue
		}
		if err := json.Unmarshal(value, fields.Field(i).Addr().Interface()); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				te.Field = key // the field at fault, as a decode of the whole object names it
			}
			return w, err
		}
	}
	return w, nil
}

// parseReaders reads the optional hot-shard fields: pairs of an in-range shard and 2..R readers,
// and one positive weight per endpoint.
func parseReaders(c *Config, w wireConfig) error {
	if w.Weights != nil {
		if len(w.Weights) != len(c.Endpoints) {
			return &ConfigError{Field: "weights", Message: fmt.Sprintf("must hold one weight per endpoint (%d), got %d", len(c.Endpoints), len(w.Weights))}
		}
		for i, x := range w.Weights {
			if !(x > 0) {
				return &ConfigError{Field: "weights", Message: fmt.Sprintf("weights[%d] must be > 0, got %v", i, x)}
			}
		}
		c.Weights = w.Weights
	}
	if len(w.Readers) == 0 {
		return nil
	}
	if len(w.Readers)%2 != 0 {
		return &ConfigError{Field: "readers", Message: "must hold [shard, readers] pairs"}
	}
	c.Readers = make(map[uint32]int, len(w.Readers)/2)
	for i := 0; i < len(w.Readers); i += 2 {
		s, k := w.Readers[i], w.Readers[i+1]
		if s != float64(uint32(s)) || uint32(s) >= c.ShardCount {
			return &ConfigError{Field: "readers", Message: fmt.Sprintf("pair %d names shard %v outside [0, %d)", i/2, s, c.ShardCount)}
		}
		if k != float64(int(k)) || int(k) < 2 || int(k) > c.Replicas {
			return &ConfigError{Field: "readers", Message: fmt.Sprintf("pair %d gives shard %v %v readers, not 2..%d", i/2, s, k, c.Replicas)}
		}
		c.Readers[uint32(s)] = int(k)
	}
	return nil
}

// jsonKind says in JSON terms what a field of wireConfig (or an element of one) takes.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int:
		return "an integer"
	case reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(jsonKind(t.Elem()), "a ") + "s"
	}
	return "a value of another type"
}

// canonicalAddr turns "10.0.0.1:8000", "[::1]:8000" or "::1:8000" (an IPv6 address followed by
// ":port", as a plain ip + ":" + port join writes it) into net.JoinHostPort form, the form grpc-go
// gives resolver addresses; ok is false for anything that is not an IP address and a port.
func canonicalAddr(s string) (string, bool) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		i := strings.LastIndexByte(s, ':')
		if i < 0 {
			return "", false
		}
		host, port = s[:i], s[i+1:]
	}
	ip := net.ParseIP(host)
	p, err := strconv.ParseUint(port, 10, 16)
	// At most 5 digits, as keyway's grpc-js reader (src/grpc/endpoint-address.ts) takes a port: both
	// pickers must refuse the same configs, or one NACKs a cluster the other routes on.
	if ip == nil || err != nil || len(port) > 5 {
		return "", false
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(p, 10)), true
}
