package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/whisk"
	"github.com/faasedge/faasedge/worker"
)

// The kinds of flag, and the groups of flags, that several commands share:
// declared once here, registered by the commands' flags in commands.go.

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// size is a flag holding a size in OpenWhisk's configuration syntax
// (2048m, 1g: whisk.ParseConfigSize).
type size whisk.ByteSize

func (s *size) String() string {
	if b := whisk.ByteSize(*s); b%whisk.MB != 0 {
		return strconv.FormatInt(int64(b), 10)
	}
	return strconv.FormatInt(whisk.ByteSize(*s).MB(), 10) + "m"
}

func (s *size) Set(v string) error {
	b, err := whisk.ParseConfigSize(v)
	if err != nil {
		return err
	}
	*s = size(b)
	return nil
}

// hostFlags configure a libp2p host: where it keeps its identity and
// blocks, where it listens, and the peers it bootstraps from.
type hostFlags struct {
	dataDir       string
	listen, peers repeated
}

// register binds the group, with dataDir as --data-dir's default.
func (f *hostFlags) register(fs *flag.FlagSet, dataDir string) {
	fs.StringVar(&f.dataDir, "data-dir", dataDir, "node data directory: identity key, block store and compiled modules (empty: in memory, a new identity each start)")
	fs.Var(&f.listen, "listen", "libp2p listen `multiaddr` (repeatable; default "+strings.Join(p2p.DefaultListenAddrs, ",")+")")
	fs.Var(&f.peers, "peer", "peer `multiaddr` with /p2p/<id> to bootstrap the ring's DHT from and fetch ipfs://<CID> code from (repeatable)")
}

func (f *hostFlags) config() p2p.Config {
	return p2p.Config{DataDir: f.dataDir, ListenAddrs: f.listen, Bootstrap: f.peers}
}

// ipfsFlags configure an IPFS node: its host, and the trustless gateway
// it falls back on.
type ipfsFlags struct {
	hostFlags
	gateway string
}

func (f *ipfsFlags) register(fs *flag.FlagSet, dataDir string) {
	f.hostFlags.register(fs, dataDir)
	fs.StringVar(&f.gateway, "gateway", "", "trustless HTTP gateway URL to fall back on for code and data by CID (blocks are verified; off when empty)")
}

// worker configures the IPFS node of a worker on the flags, logging
// warnings and errors only to stderr.
func (f *ipfsFlags) worker(stderr io.Writer) *worker.Node {
	return &worker.Node{Host: f.config(), Gateway: f.gateway, Logger: newLogger(stderr, true)}
}

// compileFlags bound the compilation of wasm modules ahead of their first
// activation.
type compileFlags struct {
	concurrency int
	disk        size
}

func (f *compileFlags) register(fs *flag.FlagSet) {
	f.disk = size(2048 * whisk.MB)
	fs.IntVar(&f.concurrency, "compile-concurrency", executor.DefaultCompileConcurrency,
		"wasm modules compiled at once ahead of their first activation, as actions are created or updated (-1: none, no prewarming: each compiles on its first activation)")
	fs.Var(&f.disk, "compile-disk", "disk kept for compiled wasm modules under --data-dir, a `size` such as 2048m or 2g")
}

func (f *compileFlags) budget() executor.CompileBudget {
	return executor.CompileBudget{Concurrent: f.concurrency, DiskBytes: int64(f.disk)}
}

// envDefaults gives the flags of fs named in env (flag name to variable)
// their variable's value as default, so that the command line still
// overrides it (and adds to a repeated flag, whose variable is a comma
// list). A value the flag refuses is an *invoker.EnvError naming the
// variable.
func envDefaults(fs *flag.FlagSet, env map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(env)) {
		f, v := fs.Lookup(name), env[name]
		items := []string{os.Getenv(v)}
		if _, ok := f.Value.(*repeated); ok {
			f.Usage += " ($" + v + ", comma-separated)"
			items = splitList(items[0])
		} else {
			f.Usage += " ($" + v + ")"
		}
		if len(items) == 0 || items[0] == "" {
			continue
		}
		for _, item := range items {
			if err := f.Value.Set(item); err != nil {
				return &invoker.EnvError{Var: v, Err: fmt.Errorf("%q: %w", item, err)}
			}
		}
	}
	return nil
}

// splitList splits a comma-separated list, ignoring empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// defaultDataDir is $FAASEDGE_DATA_DIR, else ~/.faasedge.
func defaultDataDir() string {
	if d := os.Getenv("FAASEDGE_DATA_DIR"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".faasedge")
	}
	return ".faasedge"
}
