package sim

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"

	"github.com/faasedge/faasedge/p2p/ring"
)

func TestMemNetRun(t *testing.T) {
	for _, pol := range []ring.Policy{ring.BestFit, ring.WorstFit} {
		t.Run(pol.String(), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Nodes = 100
			cfg.Measure = 50
			cfg.Policy = pol
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range rep.Steady {
				t.Logf("%s level %.2f util %.3f success %.4f feasible %.4f tries %.2f disc msgs %.1f p50 %v p99 %v backup %d bw %.0f mem %.0f", p.Policy, p.Level, p.Utilisation, p.SuccessRate(), p.FeasibleSuccessRate(), p.Tries, p.DiscoveryMsgs, p.DiscoveryP50, p.DiscoveryP99, p.FromBackup, p.BandwidthPerNode, p.MemoryPerNode)
			}
		})
	}
}

// TestReportFiles checks the CSV and the plots a run writes.
func TestReportFiles(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Nodes, cfg.Measure, cfg.Levels = 60, 30, []float64{0.5, 0.8}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, []Report{rep}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 1+len(cfg.Levels) || len(rows[0]) != len(csvHeader) || rows[1][0] != "steady" {
		t.Fatalf("csv rows %v", rows[:min(3, len(rows))])
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "success.png"), filepath.Join(dir, "messages.png")
	if err := WritePlots(a, b, []Report{rep}); err != nil {
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
}
