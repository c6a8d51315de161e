package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/faasedge/faasedge/standalone"
	"github.com/faasedge/faasedge/whisk"
)

// standaloneOptions are the whole stack's, in one process.
type standaloneOptions struct {
	addr, dataDir, redis, couch, dataMount string
	invokers, edgeNodes, virtual           int
	memory, edgeMemory                     size
	peers                                  repeated
	compile                                compileFlags
	logLevel                               slog.Level
}

// run starts the stack, prints where it is once the invokers are healthy,
// and stops it cleanly on Ctrl-C.
func (o *standaloneOptions) run(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
	switch {
	case o.invokers < 1:
		return fmt.Errorf("%w: --invokers must be at least 1", errUsage)
	case o.edgeNodes < 0:
		return fmt.Errorf("%w: --edge-nodes must not be negative", errUsage)
	case o.edgeNodes > 0 && o.virtual < 1:
		return fmt.Errorf("%w: --virtual-invokers must be at least 1 with edge nodes", errUsage)
	}
	if err := os.MkdirAll(o.dataDir, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	s, err := standalone.Start(ctx, standalone.Config{
		APIAddr: o.addr, DataDir: o.dataDir, CouchURL: o.couch, RedisURL: o.redis, DataMount: o.dataMount,
		Invokers: o.invokers, UserMemory: whisk.ByteSize(o.memory), IPFSPeers: o.peers,
		Logger:    slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel})),
		EdgeNodes: o.edgeNodes, EdgeMemory: whisk.ByteSize(o.edgeMemory), VirtualInvokers: o.virtual,
		Compile: o.compile.budget(),
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := s.Close(cctx); err != nil {
			fmt.Fprintf(stderr, "faasedge standalone: stopping: %v\n", err)
		}
	}()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := s.WaitReady(rctx); err != nil {
		return err
	}
	s.Banner(stdout)
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nStopping: letting activations in flight finish...")
	return nil
}
