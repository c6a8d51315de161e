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

// simOptions are a simulation's: sim.Config, and the runs and outputs.
type simOptions struct {
	cfg                                 sim.Config
	nodeMem, requests, policies, levels string
	csv, plots, cpuProfile              string
	verbose                             bool
}

func (o *simOptions) run(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
	cfg := o.cfg
	var err error
	if cfg.NodeMemory, err = sim.ParseDist(o.nodeMem); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if cfg.Requests, err = sim.ParseDist(o.requests); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if cfg.Levels, err = sim.ParseLevels(o.levels); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if o.verbose {
		cfg.Log = newLogger(stderr, false)
	}
	var cfgs []sim.Config
	for _, ps := range strings.Split(o.policies, ",") {
		c := cfg
		if c.Policy, err = ring.ParsePolicy(strings.TrimSpace(ps)); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		cfgs = append(cfgs, c)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
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
	if o.csv != "" {
		f, err := os.Create(o.csv)
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
	if o.plots != "" {
		return sim.WritePlots(o.plots+"-success.png", o.plots+"-messages.png", reports)
	}
	return nil
}
