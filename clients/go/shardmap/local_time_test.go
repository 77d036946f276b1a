package shardmap

import (
	"testing"
	"time"
)

// A date-time without an offset is local time, read as Date.parse reads it in the TypeScript
// client: a time the clocks skip or show twice takes the offset in force before the change. The
// wanted values are Date.parse's (Node.js 20, TZ set to the zone), which the Python client gives
// too; time.Date gave the New York gap and the London repeat an hour apart from them.
func TestIsoDateMsLocalTimeAroundClockChanges(t *testing.T) {
	for _, c := range []struct {
		zone, text string
		want       float64
	}{
		{"America/New_York", "2026-03-08T02:30:00", 1772955000000}, // skipped: EST, 03:30 EDT
		{"America/New_York", "2026-03-08T01:59:59.999", 1772953199999},
		{"America/New_York", "2026-03-08T03:00:00", 1772953200000},
		{"America/New_York", "2026-11-01T01:30:00", 1793511000000}, // shown twice: EDT, the first
		{"America/New_York", "2026-11-01T02:00:00", 1793516400000},
		{"Europe/London", "2026-03-29T01:30:00", 1774747800000},
		{"Europe/London", "2026-10-25T01:30:00", 1792888200000}, // shown twice: BST, the first
		{"Europe/London", "2026-10-25T00:59:59", 1792886399000},
		{"Europe/Dublin", "2026-10-25T01:30:00", 1792888200000},
		{"Australia/Lord_Howe", "2026-10-04T02:15:00", 1791042300000}, // a 30-minute change
		{"Australia/Lord_Howe", "2026-04-05T01:45:00", 1775313900000},
		{"America/Sao_Paulo", "2018-11-04T00:30:00", 1541302200000}, // skipped at midnight
		{"America/Sao_Paulo", "2019-02-16T23:30:00", 1550367000000},
		{"Pacific/Apia", "2011-12-30T12:00:00", 1325282400000},     // a whole day skipped
		{"Antarctica/Troll", "2026-03-29T01:30:00", 1774747800000}, // a 2-hour change
		{"Antarctica/Troll", "2026-10-25T02:30:00", 1792888200000},
		{"Asia/Kolkata", "2026-12-08T01:00:00", 1796671800000},
	} {
		loc, err := time.LoadLocation(c.zone)
		if err != nil {
			t.Skipf("no time zone data for %s: %v", c.zone, err)
		}
		if got := isoDateMsIn(c.text, loc); got != c.want {
			t.Errorf("%s in %s: %.0f, want %.0f (%+.0f ms)", c.text, c.zone, got, c.want, got-c.want)
		}
	}
}
