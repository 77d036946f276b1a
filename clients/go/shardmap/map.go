package shardmap

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	keyway "github.com/keyway/keyway/clients/go"
)

// maxLBWeight is the largest load-balancing weight keyway gives proxies (src/core/endpoint.ts
// MAX_LB_WEIGHT: uint32 / MAX_ENDPOINTS 5000).
const maxLBWeight = 0xFFFFFFFF / 5000

// Owner is one owner of a shard: its endpoint id and where it listens.
type Owner struct {
	ID      string
	Address string
	Port    int
}

// shardPick is whom a shard's requests go to when that is not simply its primary (ShardPick of
// keyway/client): owners are the first k that serve (or the fallback), upTo their running
// load-balancing weights.
type shardPick struct {
	readers int
	owners  []Owner
	upTo    []float64
}

// Map is one shard map as keyway's GET /v1/shardmap served it (docs/api.md), owner ids resolved to
// addresses. It is immutable: a new map from keyway is a new Map, so a Map held by the application
// never changes under it, and its methods are safe from any goroutine.
type Map struct {
	version    string
	since      time.Time // versionSince, else updatedAt; zero when the body has neither
	etag       string
	shardCount uint32
	owners     [][]Owner // shared between shards with the same owner list: never handed out
	picks      map[uint32]*shardPick
}

// Version is the map's content-derived version (the `version` of /v1/shardmap and /readyz).
func (m *Map) Version() string { return m.version }

// ShardCount is S, the deployment's shard count.
func (m *Map) ShardCount() uint32 { return m.shardCount }

// ShardFor is the shard of key under the map's S (hash contract 1, docs/hashing.md); the key's
// bytes are hashed as they are.
func (m *Map) ShardFor(key string) uint32 { return keyway.ShardFor(key, m.shardCount) }

// Owners are the owners of key's shard, primary first (empty when no node serves it); use them as
// the order to retry in. The slice is the caller's.
func (m *Map) Owners(key string) []Owner { return m.ownersOf(m.ShardFor(key)) }

// OwnersOfShard is Owners for a shard number; BAD_ARGUMENT (field "shard") outside [0, S).
func (m *Map) OwnersOfShard(shard uint32) ([]Owner, error) {
	if err := m.check(shard); err != nil {
		return nil, err
	}
	return m.ownersOf(shard), nil
}

// Readers is k, how many of key's shard's first owners share its requests: at least 2 for a hot
// shard (docs/hot-shards.md), 1 otherwise, 0 when the shard has no owner (as GET /v1/lookup says).
func (m *Map) Readers(key string) int { return m.readersOf(m.ShardFor(key)) }

// ReadersOfShard is Readers for a shard number; BAD_ARGUMENT (field "shard") outside [0, S).
func (m *Map) ReadersOfShard(shard uint32) (int, error) {
	if err := m.check(shard); err != nil {
		return 0, err
	}
	return m.readersOf(shard), nil
}

// Pick is the owner to send a request for key to, drawn as keyway's proxies draw it: for a hot
// shard one of its first k owners (its readers) with probability its load-balancing weight over
// theirs, never an owner past k; otherwise the primary. An owner /v1/shardmap lists as neither
// ready nor draining is passed over. false when the shard has no owner. Each call draws anew.
func (m *Map) Pick(key string) (Owner, bool) { return m.pickOf(m.ShardFor(key), rand.Float64) }

// PickForShard is Pick for a shard number, with random giving numbers in [0, 1) (nil:
// math/rand/v2's Float64). BAD_ARGUMENT (field "shard") outside [0, S).
func (m *Map) PickForShard(shard uint32, random func() float64) (Owner, bool, error) {
	if err := m.check(shard); err != nil {
		return Owner{}, false, err
	}
	if random == nil {
		random = rand.Float64
	}
	o, ok := m.pickOf(shard, random)
	return o, ok, nil
}

func (m *Map) check(shard uint32) error {
	if shard >= m.shardCount {
		return badArgument("shard", "must be an integer in [0, %d), got %d", m.shardCount, shard)
	}
	return nil
}

func (m *Map) ownersOf(shard uint32) []Owner {
	return append([]Owner(nil), m.owners[shard]...)
}

func (m *Map) readersOf(shard uint32) int {
	if p := m.picks[shard]; p != nil {
		return p.readers
	}
	return min(1, len(m.owners[shard]))
}

func (m *Map) pickOf(shard uint32, random func() float64) (Owner, bool) {
	p := m.picks[shard]
	if p == nil {
		if list := m.owners[shard]; len(list) > 0 {
			return list[0], true
		}
		return Owner{}, false
	}
	x := random() * p.upTo[len(p.upTo)-1]
	for i, upper := range p.upTo {
		if x < upper {
			return p.owners[i], true
		}
	}
	// x at the total (random gave 1) or NaN: the last reader, never past k.
	return p.owners[len(p.owners)-1], true
}

// lbWeight is keyway's load-balancing weight (src/core/endpoint.ts lbWeight): weight x 100 rounded
// half up as JavaScript's Math.round, at least 1, clamped. The explicit float64 conversion keeps Go
// from fusing the multiply and add (FMA on arm64), which would round 0.025 x 100 + 0.5 differently.
func lbWeight(weight float64) float64 {
	return min(maxLBWeight, max(1, math.Floor(float64(weight*100)+0.5)))
}

// maxPort is the largest TCP port: an owner's port is 1 to it.
const maxPort = 65535

// The /v1/shardmap body, the fields the client reads (src/admin/api-types.ts ShardMapBody).
type wireMap struct {
	Version    *string           `json:"version"`
	ShardCount *float64          `json:"shardCount"`
	Shards     []json.RawMessage `json:"shards"`
	Endpoints  []json.RawMessage `json:"endpoints"`
	// Raw: a value that is no string orders nothing (sinceOf), as in the TypeScript client, rather
	// than refusing the map.
	VersionSince json.RawMessage `json:"versionSince"`
	UpdatedAt    json.RawMessage `json:"updatedAt"`
}

type wireEndpoint struct {
	ID      *string         `json:"id"`
	Address *string         `json:"address"`
	Port    *float64        `json:"port"`
	Weight  json.RawMessage `json:"weight"`
	// Raw: only ready false and draining true count, whatever the other values (the TypeScript
	// client's ready !== false || draining === true), so a value of another type does not refuse
	// the map.
	Ready    json.RawMessage `json:"ready"`
	Draining json.RawMessage `json:"draining"`
}

type wireShard struct {
	Shard   *float64        `json:"shard"`
	Owners  json.RawMessage `json:"owners"`
	Readers json.RawMessage `json:"readers"`
}

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER, 2^53 - 1.
const maxSafeInteger = 1<<53 - 1

func isInt(f float64) bool { return !math.IsInf(f, 0) && f == math.Trunc(f) }

// decodeMap checks a /v1/shardmap body and resolves owner ids to addresses (decodeShardMap of
// keyway/client: the same checks, and the same draw per hot shard).
func decodeMap(raw []byte, url, etag string) (*Map, error) {
	bad := func(format string, args ...any) error {
		return newError(CodeKeywayUnavailable, "GET %s: not a shard map: %s", url, fmt.Sprintf(format, args...))
	}
	var w wireMap
	if err := decodeExact(raw, &w, mapKeys); err != nil {
		return nil, bad("%v", err)
	}
	if w.Version == nil {
		return nil, bad("no version")
	}
	if w.ShardCount == nil || !isInt(*w.ShardCount) || *w.ShardCount < 1 || *w.ShardCount > math.MaxUint32 {
		return nil, bad("shardCount %s", jsonText(w.ShardCount))
	}
	S := uint32(*w.ShardCount)
	if w.Shards == nil || uint64(len(w.Shards)) != uint64(S) {
		return nil, bad("%d shards for shardCount %d", len(w.Shards), S)
	}
	if w.Endpoints == nil {
		return nil, bad("no endpoints")
	}
	byID := make(map[string]Owner, len(w.Endpoints))
	weightOf := make(map[string]float64, len(w.Endpoints))
	serving := make(map[string]bool, len(w.Endpoints)) // ready or draining (without the fields: serving)
	for _, rawEndpoint := range w.Endpoints {
		var e wireEndpoint
		if err := decodeExact(rawEndpoint, &e, endpointKeys); err != nil {
			return nil, bad("%v", err)
		}
		if e.ID == nil || e.Address == nil || e.Port == nil {
			return nil, bad("an endpoint without id, address or port")
		}
		// A port keyway can give (1 to 65535): 1.5 is no address to dial (int() would make it 1).
		if p := *e.Port; p != math.Trunc(p) || p < 1 || p > maxPort {
			return nil, bad("endpoint %s: port %s", *e.ID, strconv.FormatFloat(p, 'g', -1, 64))
		}
		weight := 1.0 // the load-balancing weight proxies spread by, so a weight of 0 still takes a share
		if e.Weight != nil {
			// Only an absent weight means the default: a null one, which encoding/json would leave
			// as 0, is refused as the TypeScript client refuses it.
			var v *float64
			if json.Unmarshal(e.Weight, &v) != nil || v == nil || *v < 0 || math.IsInf(*v, 0) {
				return nil, bad("endpoint %s: weight %s", *e.ID, string(e.Weight))
			}
			weight = lbWeight(*v)
		}
		o := Owner{ID: *e.ID, Address: *e.Address, Port: int(*e.Port)}
		byID[o.ID] = o
		weightOf[o.ID] = weight
		serving[o.ID] = string(e.Ready) != "false" || string(e.Draining) == "true"
	}
	// Many shards share an owner list: one slice per list, one draw per (list, readers), so memory
	// follows the map's distinct lists, not S.
	lists := map[string][]Owner{}
	draws := map[string]*shardPick{}
	m := &Map{version: *w.Version, since: sinceOf(&w), etag: etag, shardCount: S, owners: make([][]Owner, S), picks: map[uint32]*shardPick{}}
	seen := make([]bool, S)
	for _, rawShard := range w.Shards {
		var s wireShard
		var ids []string
		if decodeExact(rawShard, &s, shardKeys) != nil || s.Shard == nil || !isInt(*s.Shard) || *s.Shard < 0 || *s.Shard >= float64(S) ||
			seen[uint32(*s.Shard)] || s.Owners == nil || json.Unmarshal(s.Owners, &ids) != nil || ids == nil {
			text := string(rawShard)
			if len(text) > 200 {
				text = text[:200]
			}
			return nil, bad("shard entry %s", text)
		}
		shard := uint32(*s.Shard)
		seen[shard] = true
		if slices.Contains(ids, "") && hasNullID(s.Owners) {
			// encoding/json reads a null id as "": refused, as the TypeScript client refuses it,
			// not taken for an endpoint whose id is "".
			return nil, bad("shard %d: unknown owner null", shard)
		}
		name := strings.Join(ids, "\n")
		list, ok := lists[name]
		if !ok {
			list = make([]Owner, len(ids))
			for i, id := range ids {
				o, known := byID[id]
				if !known {
					return nil, bad("shard %d: unknown owner %q", shard, id)
				}
				list[i] = o
			}
			lists[name] = list
		}
		m.owners[shard] = list
		k := 1
		if s.Readers != nil {
			var r float64
			// A safe integer (at most 2^53 - 1), as the TypeScript client requires: past it a
			// JSON number no longer names one integer.
			if json.Unmarshal(s.Readers, &r) != nil || !isInt(r) || r < 1 || r > maxSafeInteger {
				return nil, bad("shard %d: readers %s", shard, string(s.Readers))
			}
			k = int(min(r, float64(len(list)))) // keyway caps readers at the owners it lists; so does the client
		}
		k = min(k, len(list))
		if k < 2 && (len(list) == 0 || serving[list[0].ID]) {
			continue
		}
		drawName := fmt.Sprintf("%d\n%s", k, name)
		p := draws[drawName]
		if p == nil {
			p = newShardPick(list, k, serving, weightOf)
			draws[drawName] = p
		}
		m.picks[shard] = p
	}
	return m, nil
}

// hasNullID: the owner list holds a null (read as "" into a []string).
func hasNullID(owners json.RawMessage) bool {
	var ids []*string
	return json.Unmarshal(owners, &ids) == nil && slices.Contains(ids, nil)
}

// newShardPick is whom requests for a shard with owners list and k readers go to, weighted as
// proxies weigh them (src/xds/translator/serving.ts): the first k that serve; when none does, the
// first owner that serves, else the primary. A reader that cannot serve is not replaced.
func newShardPick(list []Owner, k int, serving map[string]bool, weightOf map[string]float64) *shardPick {
	var to []Owner
	for _, o := range list[:k] {
		if serving[o.ID] {
			to = append(to, o)
		}
	}
	if len(to) == 0 {
		to = []Owner{list[0]}
		for _, o := range list {
			if serving[o.ID] {
				to[0] = o
				break
			}
		}
	}
	p := &shardPick{readers: k, owners: to, upTo: make([]float64, len(to))}
	total := 0.0
	for i, o := range to {
		total += weightOf[o.ID]
		p.upTo[i] = total
	}
	return p
}

// sinceOf is when a map's version came into force: versionSince (kept across republishes of one
// version), else updatedAt from a keyway without it; zero (orders nothing: the map is taken) when
// neither is a date.
func sinceOf(w *wireMap) time.Time {
	for _, raw := range []json.RawMessage{w.VersionSince, w.UpdatedAt} {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
