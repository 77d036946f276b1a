package shardpicker

// Differential tests against keyway's TypeScript code (testdata/parity/oracle.ts): the shard map's
// owners (hash contract 2, checked against a Go port of docs/hashing.md written here), the picker
// config the translator writes as this package reads it, key-to-shard on arbitrary bytes, and which
// picker configs the grpc-js reader and this one accept. They need node and the repository's
// node_modules; they skip without them unless KEYWAY_REQUIRE_E2E=1.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	keyway "github.com/keyway/keyway/clients/go"
)

type oracleEndpoint struct {
	ID       string            `json:"id"`
	Address  string            `json:"address"`
	Port     int               `json:"port"`
	Locality map[string]string `json:"locality"`
	Weight   float64           `json:"weight"`
	Ready    bool              `json:"ready"`
}

type oracleTopology struct {
	Shards    int              `json:"shards"`
	Replicas  int              `json:"replicas"`
	Spread    string           `json:"spread"`
	Endpoints []oracleEndpoint `json:"endpoints"`
}

type oracleKey struct {
	Hex    string `json:"hex"`
	Shards uint32 `json:"shards"`
}

type oracleRequest struct {
	Topologies []oracleTopology `json:"topologies,omitempty"`
	Keys       []oracleKey      `json:"keys,omitempty"`
	Configs    []string         `json:"configs,omitempty"`
	Addresses  []string         `json:"addresses,omitempty"`
}

type oracleTopologyAnswer struct {
	Error          string          `json:"error"`
	Owners         [][]string      `json:"owners"`
	OwnerAddresses [][]string      `json:"ownerAddresses"`
	Config         json.RawMessage `json:"config"`
	ConfigError    string          `json:"configError"`
}

type oracleConfigAnswer struct {
	OK            bool      `json:"ok"`
	Error         string    `json:"error"`
	ShardCount    uint32    `json:"shardCount"`
	ShardHeader   string    `json:"shardHeader"`
	KeyHeader     string    `json:"keyHeader"`
	MissingHeader string    `json:"missingHeader"`
	Endpoints     []string  `json:"endpoints"`
	Replicas      int       `json:"replicas"`
	Table         []uint16  `json:"table"`
	Readers       [][2]int  `json:"readers"`
	Weights       []float64 `json:"weights"`
}

type oracleAnswer struct {
	Topologies []oracleTopologyAnswer `json:"topologies"`
	Keys       []uint32               `json:"keys"`
	Configs    []oracleConfigAnswer   `json:"configs"`
	Addresses  []*string              `json:"addresses"`
}

// askTypeScript runs the oracle once on req.
func askTypeScript(t *testing.T, req oracleRequest) oracleAnswer {
	t.Helper()
	root, _ := filepath.Abs(filepath.Join("..", "..", ".."))
	_, errNode := exec.LookPath("node")
	_, errTsx := os.Stat(filepath.Join(root, "node_modules", "tsx"))
	if errNode != nil || errTsx != nil {
		if os.Getenv("KEYWAY_REQUIRE_E2E") == "1" {
			t.Fatalf("node or the repository's node_modules missing: %v %v", errNode, errTsx)
		}
		t.Skipf("node or the repository's node_modules missing (npm ci): %v %v", errNode, errTsx)
	}
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "--import", "tsx", filepath.Join("clients", "go", "shardpicker", "testdata", "parity", "oracle.ts"))
	cmd.Dir = root
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle: %v\n%s", err, stderr.String())
	}
	var ans oracleAnswer
	if err := json.Unmarshal(out, &ans); err != nil {
		t.Fatalf("oracle answer: %v", err)
	}
	return ans
}

// --- hash contract 2, ported from docs/hashing.md alone ---

func fnv1a64(s string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 0x100000001b3
	}
	return h
}

func refScore(id string, w float64, shard int) float64 {
	z := fnv1a64(id) + uint64(shard+1)*0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	z ^= z >> 31
	u := (float64(z>>12) + 0.5) / (1 << 52)
	return -w / fdlibmLog(u)
}

// fdlibmLog is __ieee754_log (FreeBSD msun e_log.c) for x in (0, sqrt 2). Every product is
// converted with float64() so the compiler cannot fuse it into an FMA (arm64, GOAMD64=v3 do).
func fdlibmLog(x float64) float64 {
	const (
		ln2Hi = 6.93147180369123816490e-01
		ln2Lo = 1.90821492927058770002e-10
		lg1   = 6.666666666666735130e-01
		lg2   = 3.999999999940941908e-01
		lg3   = 2.857142874366239149e-01
		lg4   = 2.222219843214978396e-01
		lg5   = 1.818357216161805012e-01
		lg6   = 1.531383769920937332e-01
		lg7   = 1.479819860511658591e-01
	)
	hx := int32(math.Float64bits(x) >> 32)
	k := (hx >> 20) - 1023
	hx &= 0x000fffff
	i := (hx + 0x95f64) & 0x100000
	k += i >> 20
	f := float64(x*math.Ldexp(1, int(-k))) - 1.0
	dk := float64(k)
	if (0x000fffff & (2 + hx)) < 3 {
		if f == 0 {
			if k == 0 {
				return 0
			}
			return float64(dk*ln2Hi) + float64(dk*ln2Lo)
		}
		r := float64(float64(f*f) * (0.5 - float64(0.33333333333333333*f)))
		if k == 0 {
			return f - r
		}
		return float64(dk*ln2Hi) - ((r - float64(dk*ln2Lo)) - f)
	}
	s := float64(f / (2.0 + f))
	z := float64(s * s)
	w := float64(z * z)
	t1 := float64(w * (lg2 + float64(w*(lg4+float64(w*lg6)))))
	t2 := float64(z * (lg1 + float64(w*(lg3+float64(w*(lg5+float64(w*lg7)))))))
	r := t2 + t1
	if ((hx - 0x6147a) | (0x6b851 - hx)) > 0 {
		hfsq := float64(float64(0.5*f) * f)
		if k == 0 {
			return f - (hfsq - float64(s*(hfsq+r)))
		}
		return float64(dk*ln2Hi) - ((hfsq - (float64(s*(hfsq+r)) + float64(dk*ln2Lo))) - f)
	}
	if k == 0 {
		return f - float64(s*(f-r))
	}
	return float64(dk*ln2Hi) - ((float64(s*(f-r)) - float64(dk*ln2Lo)) - f)
}

// refOwners: the greedy walk of docs/hashing.md "Owners", every candidate scored.
func refOwners(top oracleTopology, shard int) []string {
	type cand struct {
		id, zone, fabric string
		score            float64
	}
	var cs []cand
	for _, e := range top.Endpoints {
		if e.Ready && e.Weight > 0 {
			l := e.Locality
			cs = append(cs, cand{e.ID, l["region"] + "\x00" + l["zone"], l["region"] + "\x00" + l["zone"] + "\x00" + l["subzone"], refScore(e.ID, e.Weight, shard)})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].score != cs[j].score {
			return cs[i].score > cs[j].score
		}
		return cs[i].id < cs[j].id
	})
	var chosen []cand
	taken := map[string]bool{}
	differs := func(key func(cand) string) func(cand) bool {
		return func(c cand) bool {
			for _, o := range chosen {
				if key(o) == key(c) {
					return false
				}
			}
			return true
		}
	}
	anyCand := func(cand) bool { return true }
	passes := map[string][]func(cand) bool{
		"none":    {anyCand},
		"subzone": {differs(func(c cand) string { return c.fabric }), anyCand},
		"zone":    {differs(func(c cand) string { return c.zone }), differs(func(c cand) string { return c.fabric }), anyCand},
	}[top.Spread]
	for _, pass := range passes {
		for _, c := range cs {
			if len(chosen) == top.Replicas {
				break
			}
			if !taken[c.id] && pass(c) {
				chosen = append(chosen, c)
				taken[c.id] = true
			}
		}
	}
	out := make([]string, len(chosen))
	for i, c := range chosen {
		out[i] = c.id
	}
	return out
}

func TestRefLnMatchesTheLnVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "vectors", "rendezvous.json"))
	if err != nil {
		t.Skip(err)
	}
	var file struct {
		Ln []struct{ U, Ln float64 } `json:"ln"`
	}
	if err := json.Unmarshal(raw, &file); err != nil || len(file.Ln) == 0 {
		t.Skipf("no ln vectors: %v", err)
	}
	for _, v := range file.Ln {
		if got := fdlibmLog(v.U); got != v.Ln {
			t.Errorf("ln(%v) = %v, want %v", v.U, got, v.Ln)
		}
	}
}

// --- generators ---

const idChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/-"

func genID(r *rand.Rand, i int) string {
	switch r.IntN(8) {
	case 0:
		return fmt.Sprintf("cache-%d", i) // StatefulSet style
	case 1:
		return fmt.Sprintf("10.%d.%d.%d:%d", i/65536%256, i/256%256, i%256, 7000+i) // address-like
	}
	n := 1 + r.IntN(12)
	var b strings.Builder
	b.WriteByte(idChars[r.IntN(62)])
	for j := 1; j < n; j++ {
		b.WriteByte(idChars[r.IntN(len(idChars))])
	}
	fmt.Fprintf(&b, "-%d", i)
	return b.String()
}

func genWeight(r *rand.Rand) float64 {
	switch r.IntN(10) {
	case 0:
		return 1e-290
	case 1:
		return 1e290
	case 2:
		return 0
	case 3:
		return math.Ldexp(1+r.Float64(), r.IntN(1920)-960) // anywhere from tiny to huge
	case 4:
		return 7 // ties between endpoints
	}
	return float64(1 + r.IntN(100))
}

func genAddress(r *rand.Rand, i int) (string, int) {
	port := 1 + r.IntN(65535)
	switch r.IntN(4) {
	case 0:
		return fmt.Sprintf("FD00:0:0::%X", i+1), port // uppercase, uncompressed zeros
	case 1:
		return fmt.Sprintf("fd00::%x", i+1), port
	case 2:
		return fmt.Sprintf("::ffff:10.9.%d.%d", i/256, i%256), port // IPv4-mapped
	}
	return fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256), port
}

func genTopology(r *rand.Rand, big bool) oracleTopology {
	n := 1 + r.IntN(200)
	replicas := 1 + r.IntN(4)
	if r.IntN(10) == 0 {
		replicas = 1 + r.IntN(12) // more owners than fabrics or zones, or than endpoints
	}
	shards := 1 + r.IntN(64)
	if big {
		shards = 1 + r.IntN(65536)
	}
	// keyway's work budget (S x R <= 131072), and a bound on this test's time: S = 65536 with few
	// endpoints, fewer shards with many.
	if big {
		n = 1 + r.IntN(16)
	}
	for shards*replicas > 131072 || shards*n > 1<<20 {
		shards = max(1, shards/2)
	}
	top := oracleTopology{Shards: shards, Replicas: replicas, Spread: []string{"none", "zone", "subzone"}[r.IntN(3)]}
	for i := 0; i < n; i++ {
		addr, port := genAddress(r, i)
		top.Endpoints = append(top.Endpoints, oracleEndpoint{
			ID: genID(r, i), Address: addr, Port: port, Weight: genWeight(r), Ready: r.IntN(8) != 0,
			Locality: map[string]string{"region": "r" + strconv.Itoa(r.IntN(2)), "zone": "z" + strconv.Itoa(r.IntN(3)), "subzone": "f" + strconv.Itoa(r.IntN(3))},
		})
	}
	return top
}

// TestTopologyParityWithTypeScript: for generated topologies, keyway's shard map matches a port of
// docs/hashing.md, and the picker config the translator writes routes every shard, as this
// package reads it, to that map's owners in rank order.
func TestTopologyParityWithTypeScript(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var req oracleRequest
	for i := 0; i < 40; i++ {
		req.Topologies = append(req.Topologies, genTopology(r, i%8 == 0))
	}
	// Ids outside the contract's ASCII pattern (any Unicode): keyway refuses them.
	bad := genTopology(r, false)
	bad.Endpoints[0].ID = "cache-é-\u200b"
	req.Topologies = append(req.Topologies, bad)
	ans := askTypeScript(t, req)
	for i, top := range req.Topologies {
		a := ans.Topologies[i]
		if i == len(req.Topologies)-1 {
			if !strings.HasPrefix(a.Error, "BAD_ARGUMENT") {
				t.Errorf("an id outside the ASCII pattern: %q, want BAD_ARGUMENT", a.Error)
			}
			continue
		}
		if a.Error != "" || a.ConfigError != "" {
			t.Errorf("topology %d: %s%s", i, a.Error, a.ConfigError)
			continue
		}
		checkTopology(t, i, top, a)
	}
}

func checkTopology(t *testing.T, i int, top oracleTopology, a oracleTopologyAnswer) {
	t.Helper()
	cfg, err := parseConfig(a.Config)
	if err != nil {
		t.Errorf("topology %d: the translator's config is refused: %v", i, err)
		return
	}
	if int(cfg.ShardCount) != top.Shards || len(a.Owners) != top.Shards {
		t.Errorf("topology %d: S %d, config %d, map %d", i, top.Shards, cfg.ShardCount, len(a.Owners))
		return
	}
	mismatches := 0
	for s := 0; s < top.Shards && mismatches < 5; s++ {
		if want := refOwners(top, s); !reflect.DeepEqual(want, a.Owners[s]) && !(len(want) == 0 && len(a.Owners[s]) == 0) {
			t.Errorf("topology %d (S=%d R=%d %s, %d endpoints) shard %d: keyway owners %v, docs/hashing.md gives %v", i, top.Shards, top.Replicas, top.Spread, len(top.Endpoints), s, a.Owners[s], want)
			mismatches++
		}
		var got []string
		for _, o := range cfg.OwnersOf(uint32(s)) {
			if o != NoOwner {
				got = append(got, cfg.Endpoints[o])
			}
		}
		var want []string
		for _, addr := range a.OwnerAddresses[s] {
			c, ok := canonicalAddr(addr)
			if !ok {
				t.Fatalf("owner address %q", addr)
			}
			want = append(want, c)
		}
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("topology %d shard %d: the Go picker reads owners %v, the map has %v", i, s, got, want)
			mismatches++
		}
	}
}

// TestKeyBytesParityWithTypeScript: hash contract 1 over arbitrary bytes (invalid UTF-8, NULs,
// braces anywhere, long keys) gives the shard keyway's keyBytesToShard gives.
func TestKeyBytesParityWithTypeScript(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("{}{}ab\x00\xff\xfe\xc3\xa9\xed\xa0\x80\xf0\x9f\x98\x80z")
	var req oracleRequest
	for i := 0; i < 3000; i++ {
		n := r.IntN(40)
		if i%100 == 0 {
			n = r.IntN(70000)
		}
		key := make([]byte, n)
		for j := range key {
			if r.IntN(3) == 0 {
				key[j] = byte(r.UintN(256))
			} else {
				key[j] = alphabet[r.IntN(len(alphabet))]
			}
		}
		shards := []uint32{1, 7, 1024, 16384, 65536, MaxShards, uint32(1 + r.IntN(MaxShards))}[r.IntN(7)]
		req.Keys = append(req.Keys, oracleKey{Hex: hex.EncodeToString(key), Shards: shards})
	}
	ans := askTypeScript(t, req)
	for i, k := range req.Keys {
		key, _ := hex.DecodeString(k.Hex)
		if got := keyway.ShardFor(string(key), k.Shards); got != ans.Keys[i] {
			t.Errorf("key %q (S=%d): Go shard %d, keyway %d", key, k.Shards, got, ans.Keys[i])
		}
	}
}

// configVariants: picker configs keyway does not write but a reader may be given (service config,
// another control plane): both readers must take or refuse each alike (docs/xds.md).
func configVariants() []string {
	base := map[string]any{
		"shardCount": 4, "shardHeader": "x-cache-shard", "keyHeader": "x-cache-key", "missingHeader": "any",
		"endpoints": []string{"10.0.0.1:80", "[fd00::2]:80"}, "owners": encodeOwners(2, [][]int{{0, 1}, {1}, {}, {1, 0}}),
	}
	with := func(edits map[string]any) string {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range edits {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	out := []string{with(nil)}
	for _, e := range []map[string]any{
		{"shardCount": nil, "ShardCount": 4},
		{"shardCount": nil, "shardcount": 4},
		{"owners": nil, "Owners": base["owners"]},
		{"ENDPOINTS": []string{"nope"}},
		{"MissingHeader": "sometimes"},
		{"Version": 2},
		{"READERS": []int{0, 2}},
		{"Weights": []int{1}},
		{"KeyHeader": "x-other"},
		{"shardHeader": nil, "SHARDHEADER": "x-cache-shard"},
		{"version": 1.0},
		{"endpoints": []string{"010.0.0.1:80", "[fd00::2]:80"}},
		{"endpoints": []string{"[10.0.0.1]:80", "[FD00:0::2]:080"}},
		{"endpoints": []string{"10.0.0.1:80", "[fe80::1%eth0]:80"}},
		{"endpoints": []string{"10.0.0.1:80", "[::ffff:10.0.0.1]:80"}},
		{"endpoints": []string{"::ffff:a00:1:80", "fd00::2:80"}},
		{"owners": "AAABAAEA//8=//8AAAEA"},
		{"owners": "AAABAAEA//////8BAAAA"},
		{"owners": "AAABAAEA//////8BAAAA\n"},
		{"readers": []float64{0, 2, 0, 2}},
		{"readers": []float64{-0.0, 2}},
		{"readers": []float64{3, 2}},
		{"weights": []float64{1e-320, 5}},
	} {
		out = append(out, with(e))
	}
	// Spelled as JSON numbers other writers use: 4.0 and 4e0 are the integer 4 to JSON.parse.
	out = append(out, strings.Replace(with(nil), `"shardCount":4`, `"shardCount":4.0`, 1))
	out = append(out, strings.Replace(with(nil), `"shardCount":4`, `"shardCount":4e0`, 1))
	return out
}

// TestConfigReaderParityWithTypeScript: the grpc-js reader and this one accept the same configs
// and read the same table from them.
func TestConfigReaderParityWithTypeScript(t *testing.T) {
	req := oracleRequest{Configs: configVariants()}
	ans := askTypeScript(t, req)
	for i, raw := range req.Configs {
		a := ans.Configs[i]
		c, err := parseConfig([]byte(raw))
		if (err == nil) != a.OK {
			t.Errorf("%s:\n  Go: %v\n  grpc-js: accepted %v %s", raw, err, a.OK, a.Error)
			continue
		}
		if err != nil {
			continue
		}
		readers := map[uint32]int{}
		for _, p := range a.Readers {
			readers[uint32(p[0])] = p[1]
		}
		got := fmt.Sprint(c.ShardCount, c.ShardHeader, c.KeyHeader, c.MissingHeader, c.Endpoints, c.Replicas, c.Owners, len(c.Readers), c.Weights)
		want := fmt.Sprint(a.ShardCount, a.ShardHeader, a.KeyHeader, a.MissingHeader, a.Endpoints, a.Replicas, a.Table, len(readers), a.Weights)
		if got != want || (len(readers) > 0 && !reflect.DeepEqual(c.Readers, readers)) {
			t.Errorf("%s:\n  Go reads      %s %v\n  grpc-js reads %s %v", raw, got, c.Readers, want, readers)
		}
	}
}

// TestEndpointAddressParityWithTypeScript: both pickers take the same endpoint spellings and fold
// them to the same socket (docs/xds.md: both refuse the same configs, EDS matched by socket).
func TestEndpointAddressParityWithTypeScript(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pieces := []string{"0", "1", "00", "255", "256", "010", "ffff", "FFFF", "fd00", "0000", "12345", "a", "::", ":", ".", "[", "]", "%", "eth0", "1.2.3.4", "::ffff:", "0:0", "65535", "65536", "080", "00080", "000080", " ", "+1", "-1", "1e2", "٣"}
	req := oracleRequest{Addresses: []string{"10.0.0.1:80", "[::1]:80", "::1:80", "[::ffff:10.0.0.1]:80", "[10.0.0.1]:80", "[::]:0", "1::2:3:4:5:6:7:8", "[1::2:3:4:5:6:7]:8", "[::1.2.3.4]:80", "[::ffff:0:1.2.3.4]:1"}}
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := 1 + r.IntN(10); n > 0; n-- {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		req.Addresses = append(req.Addresses, b.String())
	}
	for i := 0; i < 20000; i++ {
		req.Addresses = append(req.Addresses, genSpelling(r))
	}
	ans := askTypeScript(t, req)
	bad, accepted := 0, 0
	defer func() { t.Logf("%d spellings, %d accepted", len(req.Addresses), accepted) }()
	for i, a := range req.Addresses {
		got, ok := canonicalAddr(a)
		if ok {
			accepted++
		}
		want := ans.Addresses[i]
		if ok != (want != nil) || (ok && got != *want) {
			w := "refused"
			if want != nil {
				w = *want
			}
			t.Errorf("endpoint %q: Go %q (accepted %v), grpc-js %q", a, got, ok, w)
			if bad++; bad > 20 {
				return
			}
		}
	}
}

// genSpelling: an address much like an endpoint's, IPv4 or IPv6 (groups of 0 to 5 hex digits, any
// case, "::" anywhere, an IPv4 tail, a zone), bracketed or not, then a port of 0 to 6 digits.
func genSpelling(r *rand.Rand) string {
	octet := func() string {
		return []string{"0", "1", "10", "255", "256", "01", "00", strconv.Itoa(r.IntN(300))}[r.IntN(8)]
	}
	v4 := octet() + "." + octet() + "." + octet() + "." + octet()
	var host string
	if r.IntN(3) == 0 {
		host = v4
	} else {
		groups := make([]string, r.IntN(9))
		for i := range groups {
			g := strconv.FormatUint(uint64(r.UintN(1<<(4*uint(r.IntN(5))))), 16)
			if r.IntN(3) == 0 {
				g = strings.Repeat("0", r.IntN(3)) + strings.ToUpper(g)
			}
			groups[i] = g
		}
		if r.IntN(3) == 0 {
			groups = append(groups, v4)
		}
		if r.IntN(2) == 0 && len(groups) > 0 {
			at := r.IntN(len(groups) + 1)
			host = strings.Join(groups[:at], ":") + "::" + strings.Join(groups[at:], ":")
		} else {
			host = strings.Join(groups, ":")
		}
		if r.IntN(20) == 0 {
			host += "%eth0"
		}
	}
	if r.IntN(2) == 0 {
		host = "[" + host + "]"
	}
	port := strconv.Itoa(r.IntN(70000))
	if r.IntN(4) == 0 {
		port = strings.Repeat("0", r.IntN(4)) + port
	}
	return host + ":" + port
}
