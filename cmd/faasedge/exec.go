package main

import (
	"context"
	"encoding/json"
	"errors"
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
	fs := usageFlags("exec", "usage: faasedge exec FILE.wasm|ipfs://CID [--param k=v ...] [--timeout 5s] [--memory 128] [--peer MULTIADDR ...]\n       faasedge exec --proxy :8080 [--memory 256]", stderr)
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
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 || (len(pos) == 1) == (*proxy != "") {
		fs.Usage()
		return fmt.Errorf("%w: give either a FILE.wasm or --proxy", errUsage)
	}
	var file string
	if len(pos) == 1 {
		file = pos[0]
	}
	limits := whisk.Limits{Timeout: timeout.Milliseconds(), Memory: *memory, Logs: *logs, Concurrency: *concurrency}

	var node *ipfsFlags
	if activation.ParseCode([]byte(file), false).CID != "" || len(peers) > 0 {
		// Code by CID, and data under /ipfs, come through an IPFS node.
		node = &ipfsFlags{dataDir: *dataDir, peers: peers}
	}
	e, closeExec, err := openExecutor(ctx, *dataDir, node, stderr, executor.WithLogger(newLogger(stderr, false)))
	if err != nil {
		return err
	}
	defer closeExec()

	if *proxy != "" {
		fmt.Fprintf(stderr, "faasedge exec: action proxy listening on %s\n", *proxy)
		return executor.NewProxy(e, limits, stdout, stderr).ListenAndServe(ctx, *proxy)
	}
	return execFile(ctx, e, file, ps, limits, stdout, stderr)
}

// openExecutor starts an executor with opts that keeps compiled modules
// under dataDir when it is set. With node, an IPFS node on node's flags
// fetches ipfs://<CID> code, serves /ipfs and publishes what actions add.
// closeAll stops the executor, then the node.
func openExecutor(ctx context.Context, dataDir string, node *ipfsFlags, stderr io.Writer, opts ...executor.Option) (e *executor.Executor, closeAll func(), err error) {
	if dataDir != "" {
		opts = append(opts, executor.WithDataDir(dataDir))
	}
	closeNode := func() error { return nil }
	if node != nil {
		n, c, err := openNode(ctx, *node, stderr)
		if err != nil {
			return nil, nil, fmt.Errorf("ipfs node: %w", err)
		}
		closeNode = c
		opts = append(opts, executor.WithFetcher(n), executor.WithMount("/ipfs", n.FS(ctx)), executor.WithPublisher(n))
	}
	if e, err = executor.New(ctx, opts...); err != nil {
		_ = closeNode()
		return nil, nil, err
	}
	return e, func() { _ = e.Close(context.WithoutCancel(ctx)); _ = closeNode() }, nil
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
