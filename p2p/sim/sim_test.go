package sim

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/p2p/ring"
)

// TestRunReportsAndFiles runs a small in-memory ring per policy, checks
// the measurements are sane, and writes the CSV and the plots.
func TestRunReportsAndFiles(t *testing.T) {
	var reps []Report
	for _, pol := range []ring.Policy{ring.BestFit, ring.WorstFit} {
		cfg := DefaultConfig()
		cfg.Nodes, cfg.Measure, cfg.Policy = 40, 40, pol
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Steady) != len(cfg.Levels) || len(rep.Ramp) == 0 {
			t.Fatalf("%s: %d steady points, %d ramp points", pol, len(rep.Steady), len(rep.Ramp))
		}
		for _, p := range rep.Steady {
			t.Logf("%s level %.2f util %.3f success %.4f tries %.2f disc msgs %.1f p50 %v p99 %v backup %d", p.Policy, p.Level, p.Utilisation, p.SuccessRate(), p.Tries, p.DiscoveryMsgs, p.DiscoveryP50, p.DiscoveryP99, p.FromBackup)
			switch {
			case p.Requests != cfg.Measure || p.Policy != pol.String():
				t.Fatalf("point %+v", p)
			case p.Utilisation < p.Level-0.05:
				t.Fatalf("level %.2f measured at utilisation %.3f", p.Level, p.Utilisation)
			case p.Tries < 1 || p.Tries > float64(cfg.MaxTries) || p.DiscoveryMsgs <= 0:
				t.Fatalf("level %.2f: %.2f tries, %.1f messages", p.Level, p.Tries, p.DiscoveryMsgs)
			case p.FeasibleSuccessRate() < 0.9:
				t.Fatalf("level %.2f: %.3f of feasible requests placed", p.Level, p.FeasibleSuccessRate())
			// MemoryPerNode is a heap delta: too noisy at 40 nodes to check.
			// Every message reaches one peer; a lookup's queries reach
			// several.
			case p.DistinctPeers < 1 || p.DistinctPeers > p.DiscoveryMsgs+p.DeployMsgs:
				t.Fatalf("level %.2f: %.1f distinct peers for %.1f + %.1f messages", p.Level, p.DistinctPeers, p.DiscoveryMsgs, p.DeployMsgs)
			case p.BandwidthPerNode <= 0 || p.DiscoveryP99 < p.DiscoveryP50:
				t.Fatalf("resource figures %+v", p)
			}
		}
		reps = append(reps, rep)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, reps); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 1+2*len(DefaultConfig().Levels) || len(rows[0]) != len(csvHeader) || rows[1][0] != "steady" {
		t.Fatalf("csv rows %v", rows[:min(3, len(rows))])
	}
	var table bytes.Buffer
	if err := WriteTable(&table, reps); err != nil {
		t.Fatal(err)
	}
	// A header, a row per level, and where the latencies come from.
	if lines := strings.Split(strings.TrimSpace(table.String()), "\n"); len(lines) != 2+len(reps)*len(DefaultConfig().Levels) || !strings.HasPrefix(lines[0], "backend") ||
		lines[len(lines)-1] != "mem latencies (disc-p50, disc-p99, dep-p50): virtual: 20ms one way per message on MemNet's clock, none for computing" {
		t.Fatalf("table:\n%s", table.String())
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "success.png"), filepath.Join(dir, "messages.png")
	if err := WritePlots(a, b, reps); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{a, b} {
		data, err := os.ReadFile(f)
		if err != nil || !bytes.HasPrefix(data, []byte("\x89PNG")) {
			t.Fatalf("%s is not a PNG: %v", f, err)
		}
	}
}

func TestBadConfigsRefused(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"one node", func(c *Config) { c.Nodes = 1 }},
		{"no schedulers", func(c *Config) { c.Schedulers = 0 }},
		{"levels unsorted", func(c *Config) { c.Levels = []float64{0.9, 0.5} }},
		{"full utilisation", func(c *Config) { c.Levels = []float64{1} }},
		{"zero rate", func(c *Config) { c.Rate = 0 }},
		{"unknown backend", func(c *Config) { c.Backend = "carrier-pigeon" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Nodes = 10
			tc.edit(&cfg)
			if _, err := Run(context.Background(), cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	for _, s := range []string{"", "x", "512:0", "-1", "512:a"} {
		if _, err := ParseDist(s); err == nil {
			t.Fatalf("ParseDist(%q) accepted", s)
		}
	}
	for _, s := range []string{"", "0.5,x", "0.5,"} {
		if _, err := ParseLevels(s); err == nil {
			t.Fatalf("ParseLevels(%q) accepted", s)
		}
	}
	if l, err := ParseLevels("0.5, 0.8"); err != nil || len(l) != 2 || l[1] != 0.8 {
		t.Fatalf("ParseLevels = %v, %v", l, err)
	}
}

// TestMocknetLatency schedules on real libp2p hosts (DHT, ring protocols,
// streams) over a mocknet whose links delay every write by 20 ms: a
// placement takes at least a find's and a claim's round trips, and the
// report says its latencies are the wall clock's over those links.
func TestMocknetLatency(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Backend, cfg.Nodes, cfg.Schedulers, cfg.Measure = "mocknet", 12, 2, 20
	cfg.NodeMemory, cfg.Levels, cfg.Latency = MustDist("1024:1"), []float64{0.5}, 20*time.Millisecond
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Steady[0]
	t.Logf("success %.2f, deployment p50 %v p99 %v, %.1f lookups", p.SuccessRate(), p.DeploymentP50, p.DeploymentP99, p.Tries)
	if p.Succeeded == 0 || p.FeasibleSuccessRate() < 0.9 {
		t.Errorf("%d of %d placed (%d feasible)", p.Succeeded, p.Requests, p.Feasible)
	}
	if p.DeploymentP50 < 4*cfg.Latency {
		t.Errorf("deployment p50 %v, under a find's and a claim's round trips over %v links", p.DeploymentP50, cfg.Latency)
	}
	if !strings.Contains(p.LatencySource, "mocknet links of 20ms") {
		t.Errorf("latency source %q", p.LatencySource)
	}
}
