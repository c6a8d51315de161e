package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"sync"

	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/p2p/sim"
)

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	def := sim.DefaultConfig()
	fs := newFlags("sim", stderr)
	backend := fs.String("backend", def.Backend, "mem (in-memory network, 100,000 nodes and more) or libp2p (real hosts on loopback)")
	nodes := fs.Int("nodes", def.Nodes, "number of nodes")
	nodeMem := fs.String("node-memory", def.NodeMemory.String(), "memory each node volunteers, MB:weight,...")
	vnodes := fs.Int("vnodes", def.VNodes, "offers (virtual nodes) each node splits its memory into")
	requests := fs.String("requests", def.Requests.String(), "request sizes, MB:weight,...")
	rate := fs.Float64("rate", def.Rate, "requests per second over the ring (virtual time on mem)")
	churn := fs.Float64("churn", def.Churn, "fraction of nodes replaced per refresh period")
	policies := fs.String("policy", "bestfit,worstfit", "policies to run, comma-separated")
	maxTries := fs.Int("max-tries", def.MaxTries, "trader lookups before the backup list")
	backup := fs.Bool("backup", def.Backup, "use the backup list")
	schedulers := fs.Int("schedulers", def.Schedulers, "scheduler nodes")
	levels := fs.String("levels", "0.5,0.8,0.9", "utilisation levels measured in steady state")
	measure := fs.Int("measure", def.Measure, "requests measured per level")
	seed := fs.Uint64("seed", def.Seed, "random seed")
	latency := fs.Duration("latency", def.Latency, "one-way message latency (mem)")
	refresh := fs.Duration("refresh", def.Refresh, "supplier refresh period (mem, virtual time)")
	tickEvery := fs.Int("tick-every", def.TickEvery, "requests between refreshes (libp2p)")
	csvPath := fs.String("csv", "", "write results to this CSV file")
	plotPrefix := fs.String("plots", "", "write <prefix>-success.png and <prefix>-messages.png")
	workers := fs.Int("workers", 0, "goroutines driving each run's operations (0: one per core; 1: reproducible from -seed)")
	verbose := fs.Bool("v", false, "log progress")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the runs to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	cfg := def
	cfg.Backend, cfg.Nodes, cfg.VNodes, cfg.Rate, cfg.Churn = *backend, *nodes, *vnodes, *rate, *churn
	cfg.MaxTries, cfg.Backup, cfg.Schedulers, cfg.Measure, cfg.Seed = *maxTries, *backup, *schedulers, *measure, *seed
	cfg.Latency, cfg.Refresh, cfg.TickEvery = *latency, *refresh, *tickEvery
	cfg.Workers = *workers
	var err error
	if cfg.NodeMemory, err = sim.ParseDist(*nodeMem); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if cfg.Requests, err = sim.ParseDist(*requests); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if cfg.Levels, err = sim.ParseLevels(*levels); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *verbose {
		cfg.Log = newLogger(stderr, false)
	}
	var cfgs []sim.Config
	for _, ps := range strings.Split(*policies, ",") {
		c := cfg
		if c.Policy, err = ring.ParsePolicy(strings.TrimSpace(ps)); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		cfgs = append(cfgs, c)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	reports := make([]sim.Report, len(cfgs))
	errs := make([]error, len(cfgs))
	if cfg.Backend == "mem" {
		// In-memory runs share nothing: run the policies side by side.
		var wg sync.WaitGroup
		for i, c := range cfgs {
			wg.Go(func() { reports[i], errs[i] = sim.Run(ctx, c) })
		}
		wg.Wait()
	} else {
		for i, c := range cfgs {
			reports[i], errs[i] = sim.Run(ctx, c)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := sim.WriteTable(stdout, reports); err != nil {
		return err
	}
	if *csvPath != "" {
		f, err := os.Create(*csvPath)
		if err != nil {
			return err
		}
		if err := sim.WriteCSV(f, reports); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if *plotPrefix != "" {
		return sim.WritePlots(*plotPrefix+"-success.png", *plotPrefix+"-messages.png", reports)
	}
	return nil
}
