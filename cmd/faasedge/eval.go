package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faasedge/faasedge/eval/testbed"
	"github.com/faasedge/faasedge/eval/workloads"
	"github.com/faasedge/faasedge/whisk"
)

// evalWorkloads are the workloads `faasedge eval --workloads` names.
var evalWorkloads = map[string]func(f *evalFlags) (workloads.Workload, error){
	"hash": func(f *evalFlags) (workloads.Workload, error) {
		var sizes []int64
		for _, s := range strings.Split(f.hashSizes, ",") {
			n, err := whisk.ParseConfigSize(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("--hash-sizes %q: %v", s, err)
			}
			sizes = append(sizes, int64(n))
		}
		return workloads.NewHash(sizes...), nil
	},
	"rest": func(f *evalFlags) (workloads.Workload, error) {
		return workloads.NewREST(f.restUsers, f.restPosts), nil
	},
	"mnist": func(f *evalFlags) (workloads.Workload, error) {
		return workloads.NewMNIST(f.mnistImages, f.mnistBatch)
	},
	"video": func(f *evalFlags) (workloads.Workload, error) {
		w, h, ok := strings.Cut(f.videoSize, "x")
		wi, err1 := strconv.Atoi(w)
		hi, err2 := strconv.Atoi(h)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("--video-size %q is not WIDTHxHEIGHT", f.videoSize)
		}
		chunks := f.videoChunks
		if chunks == 0 {
			chunks = f.nodes
		}
		return workloads.NewVideo(f.videoFrames, wi, hi, chunks)
	},
}

// evalFlags size the workloads.
type evalFlags struct {
	nodes                                         int
	hashSizes, videoSize                          string
	restUsers, restPosts, mnistImages, mnistBatch int
	videoFrames, videoChunks                      int
}

// evalOptions are the evaluation's small deployment: the standalone and
// N `faasedge node` processes in network namespaces, the workloads in each
// placement, and the run's directory with the report.
type evalOptions struct {
	sizes                                  evalFlags
	rate, workloads, placements, load, out string
	cpu                                    float64
	memory, requests                       int
	interval                               time.Duration
	verbose, clean                         bool
}

func (o *evalOptions) run(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
	if o.clean {
		return testbed.Clean(ctx, stdout)
	}
	if o.sizes.nodes < 1 || o.requests < 1 || o.memory < 256 || o.cpu < 0 {
		return fmt.Errorf("%w: want --nodes and --requests at least 1, --node-memory at least 256, --cpu not negative", errUsage)
	}
	// Before the workloads generate their data: without root nothing runs.
	if os.Geteuid() != 0 {
		return testbed.ErrNotRoot
	}
	cfg := testbed.Config{Nodes: o.sizes.nodes, OutDir: o.out, NodeMemoryMB: o.memory, Requests: o.requests, Interval: o.interval,
		Caps: testbed.Caps{Rate: o.rate, CPU: o.cpu}, Progress: stdout, Logger: newLogger(stderr, !o.verbose)}
	for _, n := range splitList(o.workloads) {
		mk, ok := evalWorkloads[n]
		if !ok {
			return fmt.Errorf("%w: --workloads: unknown workload %q (known: %s)", errUsage, n, strings.Join(slices.Sorted(maps.Keys(evalWorkloads)), ", "))
		}
		w, err := mk(&o.sizes)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		cfg.Workloads = append(cfg.Workloads, w)
	}
	for _, p := range splitList(o.placements) {
		switch pl := workloads.Placement(p); pl {
		case workloads.Local, workloads.IPFS:
			cfg.Placements = append(cfg.Placements, pl)
		default:
			return fmt.Errorf("%w: --placements: %q is neither local nor ipfs", errUsage, p)
		}
	}
	for _, s := range splitList(o.load) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("%w: --load: %q is not a number of requests in flight", errUsage, s)
		}
		cfg.Load = append(cfg.Load, n)
	}
	if len(cfg.Workloads) == 0 {
		return fmt.Errorf("%w: no workloads", errUsage)
	}
	res, err := testbed.Run(ctx, cfg)
	if res != nil {
		fmt.Fprintf(stdout, "report: %s/report.md\n", res.Dir)
	}
	if ctx.Err() != nil {
		// Interrupted: the run's directory has what was measured, and
		// the teardown ran; err says what it could not remove, if any.
		fmt.Fprintf(stderr, "faasedge eval: interrupted (%v)\n", err)
		return untilStopped(ctx.Err())
	}
	return err
}
