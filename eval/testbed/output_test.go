package testbed_test

import (
	"path/filepath"
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
