package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/whisk"
)

// params collects repeated --param k=v flags; a value that is JSON is taken
// as JSON (like wsk's -p), anything else as a string.
type params map[string]json.RawMessage

func (p params) String() string { return "" }

func (p params) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	if json.Valid([]byte(v)) {
		p[k] = json.RawMessage(v)
	} else {
		b, _ := json.Marshal(v)
		p[k] = b
	}
	return nil
}

func runExec(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("exec", stderr)
	ps := params{}
	fs.Var(ps, "param", "an action parameter `key=value` (repeatable; JSON values are taken as JSON)")
	timeout := fs.Duration("timeout", 60*time.Second, "the action's time limit")
	memory := fs.Int64("memory", whisk.DefaultMemoryMB, "the action's memory limit in MB")
	logs := fs.Int64("logs", whisk.DefaultLogsMB, "the action's log limit in MB")
	concurrency := fs.Int("concurrency", 1, "activations one reactor action may run at once")
	proxy := fs.String("proxy", "", "serve OpenWhisk's action runtime protocol (/init, /run) on this address instead")
	dataDir := fs.String("data-dir", "", "keep compiled modules (and IPFS blocks) on disk under this directory")
	var peers repeated
	fs.Var(&peers, "peer", "IPFS peer multiaddr with /p2p/<id> to fetch ipfs://<CID> code and /ipfs data from (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: faasedge exec FILE.wasm|ipfs://CID [--param k=v ...] [--timeout 5s] [--memory 128] [--peer MULTIADDR ...]\n       faasedge exec --proxy :8080 [--memory 256]")
		fs.PrintDefaults()
	}
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if file == "" && fs.NArg() > 0 {
		file = fs.Arg(0)
	}
	if (file == "") == (*proxy == "") {
		fs.Usage()
		return fmt.Errorf("%w: give either a FILE.wasm or --proxy", errUsage)
	}
	limits := whisk.Limits{Timeout: timeout.Milliseconds(), Memory: *memory, Logs: *logs, Concurrency: *concurrency}

	opts := []executor.Option{executor.WithLogger(newLogger(stderr, false))}
	if *dataDir != "" {
		opts = append(opts, executor.WithDataDir(*dataDir))
	}
	if activation.ParseCode([]byte(file), false).CID != "" || len(peers) > 0 {
		// Code by CID, and data under /ipfs, come through an IPFS node.
		ipfsOpts, closeNode, err := executorIPFS(ctx, ipfsFlags{dataDir: *dataDir, peers: peers}, stderr)
		if err != nil {
			return err
		}
		defer closeNode()
		opts = append(opts, ipfsOpts...)
	}
	e, err := executor.New(ctx, opts...)
	if err != nil {
		return err
	}
	defer e.Close(context.WithoutCancel(ctx))

	if *proxy != "" {
		fmt.Fprintf(stderr, "faasedge exec: action proxy listening on %s\n", *proxy)
		return executor.NewProxy(e, limits, stdout, stderr).ListenAndServe(ctx, *proxy)
	}
	return execFile(ctx, e, file, ps, limits, stdout, stderr)
}

func execFile(ctx context.Context, e *executor.Executor, file string, ps params, limits whisk.Limits, stdout, stderr io.Writer) error {
	code := activation.ParseCode([]byte(file), false)
	name := "action"
	if code.CID == "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		code.Inline = b
		name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	value, err := json.Marshal(ps)
	if err != nil {
		return err
	}
	a := &activation.Action{Name: activation.FQN{Path: "guest", Name: name}, Version: "0.0.1", Kind: whisk.KindWasm, Code: code, Limits: limits}
	res := e.Run(ctx, a, activation.Invocation{
		ID: activation.NewID(), Namespace: "guest", Value: value,
		Deadline: time.Now().Add(time.Duration(limits.Timeout) * time.Millisecond),
	})
	for _, l := range res.Logs {
		fmt.Fprintln(stderr, l)
	}
	fmt.Fprintf(stderr, "status: %s, duration %v (init %v)\n", res.Response.StatusCode, res.End.Sub(res.Start).Round(time.Microsecond), res.InitTime.Round(time.Microsecond))
	if _, err := fmt.Fprintf(stdout, "%s\n", res.Response.Result); err != nil {
		return err
	}
	if res.Response.StatusCode != whisk.StatusSuccess {
		return errors.New(res.Response.StatusCode.String())
	}
	return nil
}
