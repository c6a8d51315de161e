// Package testbed is the evaluation's small deployment on one machine
// (`faasedge eval`): the standalone stack, edge-only, and N real `faasedge
// node` processes, each in its own network namespace on a private bridge,
// its link capped with tc (tbf towards the node, htb from it) and its CPU
// with a cgroup quota, modelling weaker devices. It drives the workloads
// of package eval/workloads in each data placement at a few offered loads
// and writes one directory per run: the raw samples as JSON lines, CSV
// tables, PNG plots and report.md.
//
// Every namespace, link and cgroup a run creates is named with the run's
// prefix (Names) and removed by name when the run ends, on Ctrl-C and
// after a node was killed; Leftovers lists what is left. A run that could
// not tear down (SIGKILLed) is recorded in /run/faasedge-eval, and Clean
// (`faasedge eval --clean`) removes what it left. Root is needed.
//
// No latency is added on the links (netem is not available on the
// machines the testbed targets): every latency it reports is this
// machine's, on a bridge.
package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/faasedge/faasedge/eval/workloads"
	"github.com/faasedge/faasedge/standalone"
	"github.com/faasedge/faasedge/standalone/controller"
	"github.com/faasedge/faasedge/whisk"
)

// Config is a run's configuration; zero values take the defaults.
type Config struct {
	// Nodes is N, the number of edge nodes (3).
	Nodes int
	// Binary is the faasedge binary the nodes run (this executable).
	Binary string
	// OutDir receives the run's directory, named for its start time and
	// prefix (eval-out).
	OutDir string
	// Caps limit every node (no caps when zero).
	Caps Caps
	// NodeMemoryMB is the memory each node volunteers, in two offers
	// (1024).
	NodeMemoryMB int
	// Workloads run one after the other, each in every placement.
	Workloads []workloads.Workload
	// Placements are the data placements each workload runs in (local
	// and IPFS); a workload that measures IPFS data cold and warm apart
	// runs IPFS as two phases (workloads.Placements).
	Placements []workloads.Placement
	// Requests is the number of requests sent at each offered load (20).
	Requests int
	// Load are the offered loads: requests kept in flight at once by the
	// client ([1 4]).
	Load []int
	// Interval is how often the collectors sample (1 s).
	Interval time.Duration
	// Progress receives a progress line while the run goes (none when
	// nil).
	Progress io.Writer
	// Logger receives the testbed's logs; the stack's and the nodes' go
	// to files in the run directory.
	Logger *slog.Logger
	// OnRequest, when set, is called before each request with the
	// testbed (tests kill a node mid-run with it).
	OnRequest func(tb *Testbed, phase string, i int)
}

func (c *Config) defaults() error {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		c.Binary = exe
	}
	if c.OutDir == "" {
		c.OutDir = "eval-out"
	}
	if c.NodeMemoryMB == 0 {
		c.NodeMemoryMB = 1024
	}
	if len(c.Placements) == 0 {
		c.Placements = []workloads.Placement{workloads.Local, workloads.IPFS}
	}
	if c.Requests == 0 {
		c.Requests = 20
	}
	if len(c.Load) == 0 {
		c.Load = []int{1, 4}
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	for _, l := range c.Load {
		if l < 1 {
			return fmt.Errorf("testbed: offered load %d: want at least 1 request in flight", l)
		}
	}
	return nil
}

// Testbed is a running deployment.
type Testbed struct {
	cfg    Config
	names  Names
	dir    string
	net    *Net
	redis  *exec.Cmd
	lock   *runLock
	stack  *standalone.Stack
	nodes  []*Node
	col    *collector
	start  time.Time
	closed sync.Once
	cerr   error
}

// Start sets the deployment up: bridge, namespaces and caps, a Redis
// server for the actions' key-value store, the standalone (edge-only, its
// gateway and IPFS node on the bridge) and the nodes; it returns once the
// gateway holds claims on every node's memory. On an error everything
// created is removed.
func Start(ctx context.Context, cfg Config) (tb *Testbed, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	start := time.Now()
	dir := func(n Names) string {
		return filepath.Join(cfg.OutDir, start.UTC().Format("20060102-150405")+"-"+n.Prefix)
	}
	names, lock, err := newRun(dir)
	if err != nil {
		return nil, err
	}
	tb = &Testbed{cfg: cfg, names: names, start: start, dir: dir(names), lock: lock}
	defer func() {
		if err != nil {
			err = errors.Join(err, tb.Close())
			tb = nil
		}
	}()
	if err := os.MkdirAll(tb.dir, 0o755); err != nil {
		return tb, err
	}
	if ended := endedRuns(); len(ended) > 0 {
		tb.progress("%d runs did not tear down (%s): `faasedge eval --clean` removes what they left", len(ended), strings.Join(ended, ", "))
	}
	tb.progress("setting up %d nodes (%s)", cfg.Nodes, names.Prefix)
	if tb.net, err = setUpNet(ctx, names, cfg.Nodes, cfg.Caps); err != nil {
		return tb, err
	}
	redisURL, err := tb.startRedis(ctx)
	if err != nil {
		return tb, err
	}
	logf, err := os.Create(filepath.Join(tb.dir, "standalone.log"))
	if err != nil {
		return tb, err
	}
	bridge := tb.net.BridgeIP().String()
	tb.stack, err = standalone.Start(ctx, standalone.Config{
		APIAddr: "127.0.0.1:0", DataDir: filepath.Join(tb.dir, "standalone"),
		RedisURL: redisURL, EdgeOnly: true, ExternalEdgeNodes: cfg.Nodes,
		EdgeMemory: whisk.ByteSize(cfg.NodeMemoryMB) * whisk.MB,
		EdgeListen: []string{"/ip4/" + bridge + "/tcp/0"},
		Logger:     slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		logf.Close()
		return tb, err
	}
	o := nodeOpts{bin: cfg.Binary, memoryMB: cfg.NodeMemoryMB, refresh: 2 * time.Second,
		peers: append(tb.stack.SchedulerAddrs(), tb.stack.IPFS().Host().FullAddrs()...), scheduler: tb.stack.SchedulerAddrs(),
		redis: redisURL, caps: cfg.Caps}
	for i := range cfg.Nodes {
		n, err := startNode(names, tb.net, tb.dir, i, o)
		if err != nil {
			return tb, err
		}
		tb.nodes = append(tb.nodes, n)
	}
	tb.col = newCollector(tb)
	go tb.col.run(cfg.Interval)
	tb.progress("waiting for the gateway to claim the nodes' memory")
	if err := tb.waitBacked(ctx, 3*time.Minute); err != nil {
		return tb, err
	}
	return tb, nil
}

// waitBacked waits until the virtual invoker is healthy and holds claims
// on all the memory the nodes volunteer, so every phase starts alike.
func (tb *Testbed) waitBacked(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := tb.stack.WaitReady(ctx); err != nil {
		return fmt.Errorf("testbed: %w (node logs in %s)", err, tb.dir)
	}
	want := tb.cfg.Nodes * tb.cfg.NodeMemoryMB
	for {
		backed := 0
		for _, v := range tb.stack.Gateway().Invokers() {
			backed += v.BackedMB()
		}
		if backed >= want {
			return nil
		}
		for _, n := range tb.nodes {
			if n.Exited() {
				return fmt.Errorf("testbed: node %d exited: %v (log: %s)", n.Index, n.waitErr, filepath.Join(tb.dir, "nodes", strconv.Itoa(n.Index), "node.log"))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testbed: the gateway holds %d of %d MB: %w", backed, want, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startRedis runs redis-server on the bridge address, the store both the
// stack and the nodes' actions use.
func (tb *Testbed) startRedis(ctx context.Context) (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("testbed: redis-server not installed (make deps): %w", err)
	}
	addr := net.JoinHostPort(tb.net.BridgeIP().String(), "6379")
	logf, err := os.Create(filepath.Join(tb.dir, "redis.log"))
	if err != nil {
		return "", err
	}
	// Protected mode refuses every client but loopback ones; the server
	// listens only on the run's private bridge, which the nodes reach it on.
	cg, err := newCgroup(tb.names.Redis(), 0)
	if err != nil {
		logf.Close()
		return "", err
	}
	tb.redis = cg.command(bin, "--bind", tb.net.BridgeIP().String(), "--port", "6379", "--protected-mode", "no",
		"--save", "", "--appendonly", "no", "--dir", tb.dir)
	tb.redis.Stdout, tb.redis.Stderr = logf, logf
	tb.redis.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := tb.redis.Start(); err != nil {
		logf.Close()
		return "", fmt.Errorf("testbed: redis-server: %w", err)
	}
	go func() { _ = tb.redis.Wait(); logf.Close() }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return "redis://" + addr, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("testbed: redis-server on %s: %w", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Nodes are the running nodes.
func (tb *Testbed) Nodes() []*Node { return tb.nodes }

// Names are the run's names.
func (tb *Testbed) Names() Names { return tb.names }

// Dir is the run's output directory.
func (tb *Testbed) Dir() string { return tb.dir }

// Env is what the workloads get: the stack's API as the guest, the
// nodes' /data directories, and the stack's IPFS node as the data owner,
// which executes nothing (the stack is edge-only).
func (tb *Testbed) Env() workloads.Env {
	return workloads.Env{
		APIHost: tb.stack.APIHost(), Auth: controller.GuestAuth,
		DataDirs: tb.dataDirs(),
		AddIPFS:  tb.addIPFS,
		Requests: tb.cfg.Requests * len(tb.cfg.Load),
	}
}

// addIPFS adds a file or a directory tree on the stack's IPFS node, as
// `ipfs add [-r] --cid-version 1` would.
func (tb *Testbed) addIPFS(ctx context.Context, fsys fs.FS, root string) (string, error) {
	st, err := fs.Stat(fsys, root)
	if err != nil {
		return "", err
	}
	var c cid.Cid
	if st.IsDir() {
		c, err = tb.stack.IPFS().AddFS(ctx, fsys, root, 1)
	} else {
		var f fs.File
		if f, err = fsys.Open(root); err != nil {
			return "", err
		}
		c, err = tb.stack.IPFS().Add(ctx, f, 1)
		f.Close()
	}
	if err != nil {
		return "", err
	}
	return c.String(), nil
}

func (tb *Testbed) dataDirs() []string {
	out := make([]string, len(tb.nodes))
	for i, n := range tb.nodes {
		out[i] = n.DataDir
	}
	return out
}

func (tb *Testbed) progress(format string, args ...any) {
	if tb.cfg.Progress == nil {
		return
	}
	fmt.Fprintf(tb.cfg.Progress, "[%6.1fs] %s\n", time.Since(tb.start).Seconds(), fmt.Sprintf(format, args...))
}

// Close stops the collectors, the nodes (withdrawing their offers, killed
// after a grace), the stack and Redis, then removes the namespaces, links
// and cgroups by name. Closing again does nothing.
func (tb *Testbed) Close() error {
	tb.closed.Do(func() {
		var errs []error
		if tb.col != nil {
			tb.col.stop()
		}
		var wg sync.WaitGroup
		for _, n := range tb.nodes {
			wg.Add(1)
			go func() { defer wg.Done(); n.stop(10 * time.Second) }()
		}
		wg.Wait()
		if tb.stack != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := tb.stack.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("testbed: stop the stack: %w", err))
			}
			cancel()
		}
		if tb.redis != nil && tb.redis.Process != nil {
			_ = tb.redis.Process.Kill()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, rerr := removeRun(ctx, tb.names.Prefix)
		left, err := Leftovers(tb.names.Prefix)
		if err = errors.Join(rerr, err); err != nil || !left.Empty() {
			errs = append(errs, fmt.Errorf("testbed: left after teardown: %v %w (`faasedge eval --clean` retries)", left, err))
		}
		// The record stays, for Clean, until nothing of the run is left.
		tb.lock.release(err == nil && left.Empty())
		tb.cerr = errors.Join(errs...)
	})
	return tb.cerr
}

// phaseName is a workload's phase in a placement.
func phaseName(w workloads.Workload, p workloads.Placement) string {
	return w.Name() + "/" + string(p)
}
