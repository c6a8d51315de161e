package testbed_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/faasedge/faasedge/eval/testbed"
)

// TestLoadTableRunsInFlight writes the tables of a level of twenty 5 ms
// runs one after the other in 0.125 s: 0.8 runs were in flight on average,
// though a sampler ticking every second would have seen none.
func TestLoadTableRunsInFlight(t *testing.T) {
	ph := testbed.Phase{Name: "rest/local", Workload: "rest", Placement: "local",
		Levels: []testbed.Level{{Load: 1, Requests: 20, OK: 20, Seconds: 0.125}}}
	for i := range 20 {
		ph.Requests = append(ph.Requests, testbed.Request{Phase: ph.Name, Workload: "rest", Placement: "local",
			Load: 1, I: i, OK: true, ClientMS: 6, DurationMS: 5, MemoryMB: 256})
	}
	res := &testbed.Results{Dir: t.TempDir(), Nodes: 5, MemMB: 1024, Phases: []testbed.Phase{ph}}
	if err := res.Write(nil); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(res.Dir, "load.csv"))
	col := map[string]string{}
	for i, h := range rows[0] {
		col[h] = rows[1][i]
	}
	// 0.8 runs of 256 MB over 5 x 1024 MB.
	if col["throughput_rps"] != "160.00" || col["mean_runs_in_flight"] != "0.80" || col["ring_utilisation"] != "0.0400" {
		t.Errorf("load.csv: %v", col)
	}
}

// TestMainTableFetch: the main table's fetch p50 is the median fetchTime
// of the successful requests that read mounted data, and "–" (NaN in
// main.csv) for a phase whose requests read none.
func TestMainTableFetch(t *testing.T) {
	hash := testbed.Phase{Name: "hash/ipfs", Workload: "hash", Placement: "ipfs"}
	for i, ms := range []float64{3, 1, 2, 40} {
		hash.Requests = append(hash.Requests, testbed.Request{Phase: hash.Name, Workload: "hash", Placement: "ipfs",
			Load: 1, I: i, OK: i < 3, ClientMS: 50, DurationMS: 45, FetchMS: &ms, FetchBytes: 1 << 20})
	}
	rest := testbed.Phase{Name: "rest/local", Workload: "rest", Placement: "local",
		Requests: []testbed.Request{{Phase: "rest/local", Workload: "rest", Placement: "local", Load: 1, OK: true, ClientMS: 6, DurationMS: 5}}}
	res := &testbed.Results{Dir: t.TempDir(), Nodes: 3, MemMB: 1024, Phases: []testbed.Phase{hash, rest}}
	if err := res.Write(nil); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(res.Dir, "main.csv"))
	fetch := slices.Index(rows[0], "fetch_p50_ms")
	if fetch < 0 || len(rows) != 3 || rows[1][fetch] != "2.00" || rows[2][fetch] != "NaN" {
		t.Errorf("main.csv: %v", rows)
	}
	report, err := os.ReadFile(filepath.Join(res.Dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| execution p50 ms | fetch p50 ms |", "| 45.0 | 2.0 |", "| 5.0 | – |"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("report.md lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(string(report), "Data-fetch time is not separated") {
		t.Errorf("report.md says fetch time is not measured")
	}
}
