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
	"github.com/faasedge/faasedge/worker"
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

const execUsage = "usage: faasedge exec FILE.wasm|ipfs://CID [--param k=v ...] [--timeout 5s] [--memory 128] [--peer MULTIADDR ...]\n       faasedge exec --proxy :8080 [--memory 256]"

// execOptions run one action, or serve the action proxy.
type execOptions struct {
	params       params
	timeout      time.Duration
	memory, logs int64
	concurrency  int
	proxy        string
	// Code by CID, and data under /ipfs, come through an IPFS node.
	node ipfsFlags
}

func (o *execOptions) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 1 || (len(args) == 1) == (o.proxy != "") {
		return fmt.Errorf("%w: give either a FILE.wasm or --proxy", errUsage)
	}
	var file string
	if len(args) == 1 {
		file = args[0]
	}
	limits := whisk.Limits{Timeout: o.timeout.Milliseconds(), Memory: o.memory, Logs: o.logs, Concurrency: o.concurrency}
	wcfg := worker.Config{ModulesDir: o.node.dataDir, Logger: newLogger(stderr, false)}
	if activation.ParseCode([]byte(file), false).CID != "" || len(o.node.peers) > 0 {
		wcfg.Node = o.node.worker(stderr)
	}
	w, err := worker.Open(ctx, wcfg)
	if err != nil {
		return err
	}
	defer w.Close(context.WithoutCancel(ctx))
	e := w.Executor()

	if o.proxy != "" {
		fmt.Fprintf(stderr, "faasedge exec: action proxy listening on %s\n", o.proxy)
		return executor.NewProxy(e, limits, stdout, stderr).ListenAndServe(ctx, o.proxy)
	}
	return execFile(ctx, e, file, o.params, limits, stdout, stderr)
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
