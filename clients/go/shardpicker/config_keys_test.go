package shardpicker

import (
	"strings"
	"testing"
)

// keyway's grpc-js reader reads the config with JSON.parse: keys match as spelled, and 4.0 is the
// integer 4. encoding/json matched "Owners" or "SHARDCOUNT" as owners and shardCount, so the two
// pickers read one config differently: this one routed on a table the grpc-js one never saw (an
// unknown key to it, so every shard without owners), or took a shard count it refused.
func TestParseConfigReadsKeysAsSpelledAndNumbersAsJSON(t *testing.T) {
	eps := []string{"10.0.0.1:80", "10.0.0.2:80"}
	base := string(seedConfig("", "any", eps, 1, [][]int{{0}, {1}}))

	c, err := parseConfig([]byte(strings.Replace(base, `"owners"`, `"Owners"`, 1)))
	if err != nil || c.Replicas != 0 || len(c.Owners) != 0 {
		t.Errorf(`"Owners": %v, %+v; want an unknown key, ignored (no owner table)`, err, c)
	}
	if _, err := parseConfig([]byte(strings.Replace(base, `"shardCount"`, `"SHARDCOUNT"`, 1))); err == nil {
		t.Error(`"SHARDCOUNT" read as shardCount, want shardCount missing`)
	}
	c, err = parseConfig([]byte(strings.Replace(base, `"shardCount":2`, `"shardCount":2,"ShardCount":1,"OWNERS":"AAA="`, 1)))
	if err != nil || c.ShardCount != 2 || len(c.Owners) != 2 {
		t.Errorf("other spellings next to the contract's keys: %v, %+v", err, c)
	}
	for _, n := range []string{"2.0", "2e0", "0.2e1"} {
		c, err := parseConfig([]byte(strings.Replace(base, `"shardCount":2`, `"shardCount":`+n, 1)))
		if err != nil || c.ShardCount != 2 {
			t.Errorf("shardCount %s: %v", n, err)
		}
	}
	if _, err := parseConfig([]byte(`{"version":1.0,"shardCount":2,"shardHeader":"s","endpoints":[],"owners":""}`)); err != nil {
		t.Errorf("version 1.0: %v", err)
	}
}
