package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/faasedge/faasedge/eval/workloads"
)

// Phase is one workload in one data placement.
type Phase struct {
	Name      string
	Workload  string
	Placement string
	// DeployError is why the workload could not be deployed (no requests
	// were sent then).
	DeployError string
	Levels      []Level
	Requests    []Request
	// Start is before the deployment, End after the last request.
	Start, End Snap
	// Peak is each node's highest resident memory (bytes) in the phase:
	// its cgroup's total_rss, the page cache of the files it read left out.
	Peak []uint64
}

// Level is one offered load of a phase.
type Level struct {
	Load     int
	Requests int
	OK       int
	Seconds  float64
	Start    Snap
	End      Snap
}

// Results are a run's phases, with what the report states about it.
type Results struct {
	Dir    string
	Nodes  int
	Caps   Caps
	MemMB  int
	Phases []Phase
	Setup  Snap // after the gateway claimed the nodes' memory
}

// Run starts the testbed, runs every workload in every placement at each
// offered load, stops the testbed and writes the run's directory. It
// returns the results written, and the teardown's error joined to the
// run's: the directory is written either way once the testbed started.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	tb, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res, runErr := tb.Run(ctx)
	closeErr := tb.Close()
	if res != nil {
		if err := res.Write(tb.col.series); err != nil {
			runErr = errors.Join(runErr, err)
		}
		tb.progress("done: %s", filepath.Join(res.Dir, "report.md"))
	}
	return res, errors.Join(runErr, closeErr)
}

// Run drives the configured workloads; the testbed stays up. A workload
// that fails to deploy in a placement is skipped there and its error
// returned with the results.
func (tb *Testbed) Run(ctx context.Context) (*Results, error) {
	cfg := tb.cfg
	res := &Results{Dir: tb.dir, Nodes: cfg.Nodes, Caps: cfg.Caps, MemMB: cfg.NodeMemoryMB, Setup: tb.col.sample()}
	reqf, err := os.Create(filepath.Join(tb.dir, "requests.jsonl"))
	if err != nil {
		return nil, err
	}
	defer reqf.Close()
	var mu sync.Mutex
	enc := json.NewEncoder(reqf)
	total := 0
	for _, w := range cfg.Workloads {
		total += len(workloads.Placements(w, cfg.Placements))
	}
	// A phase that could not deploy is reported and the run goes on; the
	// run then ends with their errors.
	var deployErrs []error
	k := 0
	for _, w := range cfg.Workloads {
		for _, p := range workloads.Placements(w, cfg.Placements) {
			k++
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			ph := Phase{Name: phaseName(w, p), Workload: w.Name(), Placement: string(p)}
			tb.progress("phase %d/%d %s: deploying", k, total, ph.Name)
			ph.Start = tb.col.enter(ph.Name + " deploy")
			if err := w.Deploy(ctx, tb.Env(), p); err != nil {
				ph.DeployError = err.Error()
				deployErrs = append(deployErrs, fmt.Errorf("testbed: %s: deploy: %w", ph.Name, err))
				_, ph.Peak = tb.col.leave()
				ph.End = ph.Start
				tb.progress("phase %s: deploy failed: %v", ph.Name, err)
				res.Phases = append(res.Phases, ph)
				continue
			}
			_, ph.Peak = tb.col.leave()
			first := 0
			for _, load := range cfg.Load {
				lv := Level{Load: load}
				lv.Start = tb.col.enter(fmt.Sprintf("%s@%d", ph.Name, load))
				began := time.Now()
				done := 0
				tb.drive(ctx, w, p, load, first, cfg.Requests, func(r Request) {
					mu.Lock()
					defer mu.Unlock()
					_ = enc.Encode(r)
					ph.Requests = append(ph.Requests, r)
					lv.Requests++
					if r.OK {
						lv.OK++
					}
					done++
					if done%max(1, cfg.Requests/5) != 0 && done != cfg.Requests {
						return
					}
					tb.progress("phase %d/%d %s load %d: %d/%d requests, %d ok", k, total, ph.Name, load, done, cfg.Requests, lv.OK)
				})
				lv.Seconds = time.Since(began).Seconds()
				var peak []uint64
				lv.End, peak = tb.col.leave()
				for i := range ph.Peak {
					ph.Peak[i] = max(ph.Peak[i], peak[i])
				}
				ph.Levels = append(ph.Levels, lv)
				first += cfg.Requests
			}
			ph.End = ph.Levels[len(ph.Levels)-1].End
			res.Phases = append(res.Phases, ph)
		}
	}
	return res, errors.Join(append(deployErrs, ctx.Err())...)
}
