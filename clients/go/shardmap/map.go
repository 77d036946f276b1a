package shardmap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
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
	since      float64 // epoch ms of versionSince, else updatedAt (isoDateMs); NaN when neither is an ISO date
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
	// Raw, each checked by decodeMap: a value of another type is refused with the message the
	// TypeScript client gives (`shardCount "3"`, `undefined shards`), not encoding/json's.
	Version    json.RawMessage `json:"version"`
	ShardCount json.RawMessage `json:"shardCount"`
	Shards     json.RawMessage `json:"shards"`
	Endpoints  json.RawMessage `json:"endpoints"`
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
	badShard := func(rawShard json.RawMessage) error {
		text := string(rawShard)
		if len(text) > 200 {
			text = text[:200]
		}
		return bad("shard entry %s", text)
	}
	if trimmed := bytes.TrimLeft(raw, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		// An array or null: JSON but no object (the TypeScript client's words). Not JSON: the
		// decode below says why.
		if json.Valid(raw) {
			return nil, bad("not an object")
		}
	}
	var w wireMap
	if err := decodeExact(raw, &w, mapKeys); err != nil {
		return nil, bad("%v", err)
	}
	var version *string
	if json.Unmarshal(w.Version, &version) != nil || version == nil {
		return nil, bad("no version")
	}
	var count *float64
	if json.Unmarshal(w.ShardCount, &count) != nil || count == nil || !isInt(*count) || *count < 1 || *count > math.MaxUint32 {
		return nil, bad("shardCount %s", valueText(w.ShardCount))
	}
	S := uint32(*count)
	var shards []json.RawMessage
	if json.Unmarshal(w.Shards, &shards) != nil || shards == nil {
		return nil, bad("undefined shards for shardCount %d", S)
	}
	if uint64(len(shards)) != uint64(S) {
		return nil, bad("%d shards for shardCount %d", len(shards), S)
	}
	var endpoints []json.RawMessage
	if json.Unmarshal(w.Endpoints, &endpoints) != nil || endpoints == nil {
		return nil, bad("no endpoints")
	}
	byID := make(map[string]Owner, len(endpoints))
	weightOf := make(map[string]float64, len(endpoints))
	serving := make(map[string]bool, len(endpoints)) // ready or draining (without the fields: serving)
	for _, rawEndpoint := range endpoints {
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
	m := &Map{version: *version, since: sinceOf(&w), etag: etag, shardCount: S, owners: make([][]Owner, S), picks: map[uint32]*shardPick{}}
	seen := make([]bool, S)
	for _, rawShard := range shards {
		var s wireShard
		if decodeExact(rawShard, &s, shardKeys) != nil || s.Shard == nil || !isInt(*s.Shard) || *s.Shard < 0 || *s.Shard >= float64(S) ||
			seen[uint32(*s.Shard)] || s.Owners == nil {
			return nil, badShard(rawShard)
		}
		shard := uint32(*s.Shard)
		seen[shard] = true
		// Keyed by the list's JSON text as sent, which cannot collide (joined with "\n", ["a\nb"]
		// was taken for the list ["a","b"] once a shard had listed that, so the shard got the
		// wrong owners). A text seen before was checked then: keyway spells every list one way,
		// so each distinct list is parsed once, not once per shard (at S = 65536, parsing and
		// re-encoding every shard's ids made a map's decode about 1.6 times as long).
		name := string(s.Owners)
		list, ok := lists[name]
		if !ok {
			var rawIDs []json.RawMessage
			if json.Unmarshal(s.Owners, &rawIDs) != nil || rawIDs == nil {
				return nil, badShard(rawShard)
			}
			// Each id must be a JSON string: encoding/json reads a null as "" into a []string,
			// which was taken for an endpoint whose id is "". The first id that is no string or
			// no known endpoint's is refused, in the list's order, as the TypeScript client
			// refuses it.
			list = make([]Owner, len(rawIDs))
			for i, rawID := range rawIDs {
				var id string
				if rawID[0] != '"' || json.Unmarshal(rawID, &id) != nil {
					return nil, bad("shard %d: unknown owner %s", shard, valueText(rawID))
				}
				o, known := byID[id]
				if !known {
					return nil, bad("shard %d: unknown owner %s", shard, jsonText(id))
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

// sinceOf is when a map's version came into force (epoch ms): versionSince (kept across
// republishes of one version), else updatedAt from a keyway without it; NaN (orders nothing: the
// map is taken) when neither is an ISO date.
func sinceOf(w *wireMap) float64 {
	for _, raw := range []json.RawMessage{w.VersionSince, w.UpdatedAt} {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if ms := isoDateMs(s); !math.IsNaN(ms) {
				return ms
			}
		}
	}
	return math.NaN()
}

// isoDate is the ISO forms JavaScript's Date.parse reads (the ECMAScript date time string format,
// with what V8 adds: a lower-case t or z, a space for T, an offset without its colon). keyway sends
// toISOString(), 2026-12-08T01:00:00.000Z.
var isoDate = regexp.MustCompile(`^([+-]\d{6}|\d{4})(?:-(\d{2})(?:-(\d{2}))?)?` +
	`(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}:?\d{2})?)?$`)

// maxDateMs is the most ms from the epoch a JavaScript Date holds.
const maxDateMs = 8.64e15

// isoDateMs is Date.parse of the TypeScript client (keyway/client) for the forms it reads: epoch ms,
// in whole ms (further digits are dropped, as JavaScript drops them), NaN for any other text.
// time.RFC3339Nano refused forms the TypeScript client reads (a date alone, no seconds, no offset:
// local time) and kept nanoseconds, so two maps 0.3 µs apart were ordered here and equal there.
func isoDateMs(text string) float64 { return isoDateMsIn(text, time.Local) }

// localSeconds is the instant (epoch s) of wall, a wall-clock time in local given as seconds from
// 1970-01-01T00:00 as if it were UTC, read as ECMAScript's UTC(t) reads it (what Date.parse does
// with a date-time without an offset): a time the clocks skip (spring forward) or show twice (fall
// back) takes the offset in force before the change. time.Date leaves both cases unspecified and
// took the offset after the change in some zones (2026-03-08T02:30 in New York, 2026-10-25T01:30
// in London: an hour off the other clients).
func localSeconds(wall int64, local *time.Location) int64 {
	offsetAt := func(instant int64) int64 {
		_, offset := time.Unix(instant, 0).In(local).Zone()
		return int64(offset)
	}
	// The offsets a day before and after: zones change offset far less often than daily.
	before, after := offsetAt(wall-86400), offsetAt(wall+86400)
	early, late := wall-before, wall-after
	earlyOK, lateOK := offsetAt(early) == before, offsetAt(late) == after
	switch {
	case earlyOK && lateOK:
		return min(early, late) // shown twice: the earlier instant, before the change
	case lateOK:
		return late
	default:
		return early // skipped (or only before the change fits): the offset before the change
	}
}

// isoDateMsIn is isoDateMs with local time in local.
func isoDateMsIn(text string, local *time.Location) float64 {
	g := isoDate.FindStringSubmatch(text)
	if g == nil || g[1] == "-000000" {
		return math.NaN()
	}
	num := func(s string, absent int) int {
		if s == "" {
			return absent
		}
		n, _ := strconv.Atoi(s)
		return n
	}
	year, month, day := num(g[1], 0), num(g[2], 1), num(g[3], 1)
	hour, minute, second := num(g[4], 0), num(g[5], 0), num(g[6], 0)
	ms := num((g[7] + "000")[:3], 0)
	// As V8: a day up to 31 rolls into the next month (2026-02-30 is March 2), 24:00 is the next
	// day's start; time.Date rolls them alike.
	if month < 1 || month > 12 || day < 1 || day > 31 || minute > 59 || second > 59 || hour > 24 || (hour == 24 && minute+second+ms > 0) {
		return math.NaN()
	}
	zone := g[8]
	sec := time.Date(year, time.Month(month), day, hour, minute, second, 0, time.UTC).Unix()
	if zone == "" && g[4] != "" {
		sec = localSeconds(sec, local) // a date-time without an offset is local time, as in JavaScript (a date alone is UTC)
	}
	t := float64(sec)*1000 + float64(ms)
	if zone != "" && zone != "Z" && zone != "z" {
		oh, om := num(zone[1:3], 0), num(zone[len(zone)-2:], 0)
		if oh > 23 || om > 59 {
			return math.NaN()
		}
		sign := 1.0
		if zone[0] == '-' {
			sign = -1
		}
		t -= sign * float64(oh*60+om) * 60000
	}
	if math.Abs(t) > maxDateMs {
		return math.NaN()
	}
	return t
}

// jsonText is v as JSON.stringify prints it: <, > and & as they are, not escaped as for HTML.
func jsonText(v any) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// valueText is a raw JSON value as JSON.stringify would print it, "undefined" when absent.
func valueText(raw json.RawMessage) string {
	if raw == nil {
		return "undefined"
	}
	var v any
	if json.Unmarshal(raw, &v) == nil {
		if f, ok := v.(float64); ok {
			return jsonText(f) // a number as JavaScript prints it: 1e3 is 1000
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
