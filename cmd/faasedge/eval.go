package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
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

// runEval runs the evaluation's small deployment: the standalone and N
// `faasedge node` processes in network namespaces, the workloads in each
// placement, and the run's directory with the report.
func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", stderr)
	nodes := fs.Int("nodes", 5, "edge nodes (N), each a `faasedge node` in its own network namespace")
	rate := fs.String("rate", "", "link cap per node and direction, as tc writes it (e.g. 20mbit); none by default")
	cpu := fs.Float64("cpu", 0, "CPU cap per node in cores (e.g. 0.5); none by default")
	memory := fs.Int("node-memory", 1024, "memory (MB) each node volunteers, in two offers")
	names := make([]string, 0, len(evalWorkloads))
	for n := range evalWorkloads {
		names = append(names, n)
	}
	sort.Strings(names)
	wl := fs.String("workloads", strings.Join(names, ","), "workloads to run, comma-separated ("+strings.Join(names, ", ")+")")
	placements := fs.String("placements", "local,ipfs", "data placements, comma-separated (local, ipfs)")
	requests := fs.Int("requests", 20, "requests sent at each offered load")
	load := fs.String("load", "1,4", "offered loads: requests kept in flight, comma-separated")
	interval := fs.Duration("interval", time.Second, "how often the collectors sample")
	out := fs.String("out", "eval-out", "directory that receives the run's directory")
	var f evalFlags
	fs.StringVar(&f.hashSizes, "hash-sizes", "4k,1m,16m,64m", "file sizes of the hash workload")
	fs.IntVar(&f.restUsers, "rest-users", 0, "users of the rest workload's social network (0: its default)")
	fs.IntVar(&f.restPosts, "rest-posts", 0, "posts of the rest workload's social network (0: its default)")
	fs.IntVar(&f.mnistImages, "mnist-images", 1000, "MNIST test images the mnist workload classifies (0: all 10,000)")
	fs.IntVar(&f.mnistBatch, "mnist-batch", 10, "images per mnist request (1 to 100)")
	fs.IntVar(&f.videoFrames, "video-frames", 48, "frames of the video workload's synthetic MJPEG video")
	fs.StringVar(&f.videoSize, "video-size", "320x240", "frame size of the video workload")
	fs.IntVar(&f.videoChunks, "video-chunks", 0, "chunks the video is split into, one request each (0: one per node)")
	verbose := fs.Bool("v", false, "log the testbed's steps")
	clean := fs.Bool("clean", false, "remove what earlier runs that could not tear down (SIGKILLed) left: processes, namespaces, links, cgroups; then exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *clean {
		return testbed.Clean(ctx, stdout)
	}
	if *nodes < 1 || *requests < 1 || *memory < 256 || *cpu < 0 {
		return fmt.Errorf("%w: want --nodes and --requests at least 1, --node-memory at least 256, --cpu not negative", errUsage)
	}
	// Before the workloads generate their data: without root nothing runs.
	if os.Geteuid() != 0 {
		return testbed.ErrNotRoot
	}
	f.nodes = *nodes
	cfg := testbed.Config{Nodes: *nodes, OutDir: *out, NodeMemoryMB: *memory, Requests: *requests, Interval: *interval,
		Caps: testbed.Caps{Rate: *rate, CPU: *cpu}, Progress: stdout, Logger: newLogger(stderr, !*verbose)}
	for _, n := range splitList(*wl) {
		mk, ok := evalWorkloads[n]
		if !ok {
			return fmt.Errorf("%w: --workloads: unknown workload %q (known: %s)", errUsage, n, strings.Join(names, ", "))
		}
		w, err := mk(&f)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		cfg.Workloads = append(cfg.Workloads, w)
	}
	for _, p := range splitList(*placements) {
		switch pl := workloads.Placement(p); pl {
		case workloads.Local, workloads.IPFS:
			cfg.Placements = append(cfg.Placements, pl)
		default:
			return fmt.Errorf("%w: --placements: %q is neither local nor ipfs", errUsage, p)
		}
	}
	for _, s := range splitList(*load) {
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

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
