package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	controllerplugin "github.com/faasedge/faasedge/controller-plugin"
	"github.com/faasedge/faasedge/p2p/ring"
)

const deployUsage = `usage: faasedge deploy --scheduler S [--peer ADDR ...] NAME FILE.wasm [--memory MB]

S is a scheduler's multiaddr (/ip4/.../p2p/<id>) or the scheduler index's
IPNS name (/ipns/<name>), resolved in the ring's DHT through --peer.
The file is added to IPFS on this machine and served until the scheduling
node holds it; the action's invoke URL is printed.`

// deployOptions are the edge client's of the Function Manager.
type deployOptions struct {
	scheduler string
	memory    int
	timeout   time.Duration
	host      hostFlags
}

func (o *deployOptions) run(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
	if len(pos) != 2 {
		return fmt.Errorf("%w: want NAME FILE.wasm, got %d arguments", errUsage, len(pos))
	}
	if o.scheduler == "" {
		return fmt.Errorf("%w: --scheduler is required", errUsage)
	}
	name, file := pos[0], pos[1]
	mod, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if len(mod) < 4 || string(mod[:4]) != "\x00asm" {
		return fmt.Errorf("%s is not a WebAssembly module", file)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	n, closeNode, err := openNode(ctx, ipfsFlags{hostFlags: o.host}, stderr)
	if err != nil {
		return err
	}
	defer closeNode()
	schedulers, err := controllerplugin.ResolveSchedulers(ctx, n.Host().DHT, o.scheduler)
	if err != nil {
		return fmt.Errorf("--scheduler: %w", err)
	}
	c, err := n.Add(ctx, bytes.NewReader(mod), 0)
	if err != nil {
		return err
	}
	tr := ring.NewHostTransport(n.Host(), newLogger(stderr, true))
	defer tr.Close()
	req := controllerplugin.DeployRequest{Name: name, CID: c.String(), MemoryMB: o.memory}
	var errs []error
	for _, s := range schedulers {
		rep, err := controllerplugin.Deploy(ctx, tr, s, req)
		if err == nil {
			fmt.Fprintf(stderr, "deployed %s (ipfs://%s) as %s, code prepared on %s\n", file, c, rep.Action, rep.Supplier)
			_, err = fmt.Fprintln(stdout, rep.URL)
			return err
		}
		if ring.IsRemote(err) {
			return err // the scheduler refused the request itself
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("no scheduler took the deployment: %w", errors.Join(errs...))
}
