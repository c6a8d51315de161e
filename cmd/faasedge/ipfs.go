package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/faasedge/faasedge/p2p/ipfs"
)

const ipfsUsage = `usage: faasedge ipfs <subcommand> [flags]

  add [-Q] [--cid-version 0|1] FILE   import FILE ("-": stdin), pin it, print its CID
  get CID [-o FILE]                    fetch CID into FILE (default: ./CID)
  cat CID                              fetch CID to stdout
  pin add CID | pin rm CID | pin ls    keep, release, list pinned CIDs`

// ipfsOptions are the flags of every ipfs subcommand.
type ipfsOptions struct {
	node       ipfsFlags
	timeout    time.Duration
	quiet      bool
	cidVersion int
	out        string
}

func (o *ipfsOptions) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing subcommand", errUsage)
	}
	sub, pos := args[0], args[1:]
	want := func(n int, what string) error {
		if len(pos) != n {
			return fmt.Errorf("%w: ipfs %s takes %s", errUsage, sub, what)
		}
		return nil
	}
	switch sub {
	case "add":
		if err := want(1, "one FILE"); err != nil {
			return err
		}
		if o.cidVersion != 0 && o.cidVersion != 1 {
			return fmt.Errorf("%w: --cid-version %d: want 0 or 1", errUsage, o.cidVersion)
		}
		return withNode(ctx, o.node, stderr, func(n *ipfs.Node) error {
			return ipfsAdd(ctx, n, pos[0], o.cidVersion, o.quiet, stdout)
		})
	case "get", "cat":
		if err := want(1, "one CID"); err != nil {
			return err
		}
		c, err := ipfs.ParseCID(pos[0])
		if err != nil {
			return fmt.Errorf("could not fetch %s: %w", pos[0], err)
		}
		return withNode(ctx, o.node, stderr, func(n *ipfs.Node) error {
			fctx, cancel := context.WithTimeout(ctx, o.timeout)
			defer cancel()
			b, err := n.Fetch(fctx, c.String())
			if err != nil {
				return fmt.Errorf("could not fetch %s%s: %w", ipfs.Scheme, c, err)
			}
			if sub == "cat" {
				_, err = stdout.Write(b)
				return err
			}
			dst := o.out
			if dst == "" {
				dst = c.String()
			}
			return writeFileAtomic(dst, b)
		})
	case "pin":
		return o.pin(ctx, pos, stdout, stderr)
	default:
		return fmt.Errorf("%w: unknown subcommand %q", errUsage, sub)
	}
}

func (o *ipfsOptions) pin(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
	if len(pos) == 0 {
		return fmt.Errorf("%w: ipfs pin takes add CID, rm CID or ls", errUsage)
	}
	switch {
	case pos[0] == "ls" && len(pos) == 1:
		return withNode(ctx, o.node, stderr, func(n *ipfs.Node) error {
			pins, err := n.Pins(ctx)
			if err != nil {
				return err
			}
			for _, c := range pins {
				if _, err := fmt.Fprintf(stdout, "%s recursive\n", c); err != nil {
					return err
				}
			}
			return nil
		})
	case (pos[0] == "add" || pos[0] == "rm") && len(pos) == 2:
		c, err := ipfs.ParseCID(pos[1])
		if err != nil {
			return err
		}
		return withNode(ctx, o.node, stderr, func(n *ipfs.Node) error {
			verb := "pinned"
			if pos[0] == "rm" {
				verb, err = "unpinned", n.Unpin(ctx, c)
			} else {
				pctx, cancel := context.WithTimeout(ctx, o.timeout)
				defer cancel()
				err = n.Pin(pctx, c)
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, "%s %s\n", verb, c)
			return err
		})
	default:
		return fmt.Errorf("%w: ipfs pin takes add CID, rm CID or ls", errUsage)
	}
}

// withNode runs f on a node opened on the data dir, then closes it.
func withNode(ctx context.Context, f ipfsFlags, stderr io.Writer, run func(*ipfs.Node) error) error {
	n, closeNode, err := openNode(ctx, f, stderr)
	if err != nil {
		return err
	}
	return errors.Join(run(n), closeNode())
}

// openNode starts a DHT-client host and an IPFS node on f's data dir (in
// memory, with a fresh identity, when it is empty).
func openNode(ctx context.Context, f ipfsFlags, stderr io.Writer) (*ipfs.Node, func() error, error) {
	h, n, err := f.worker(stderr).Open(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	return n, func() error { return errors.Join(n.Close(), h.Close()) }, nil
}

func ipfsAdd(ctx context.Context, n *ipfs.Node, path string, cidVersion int, quiet bool, stdout io.Writer) error {
	var r io.Reader = os.Stdin
	name := path
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return fmt.Errorf("%s is a directory", path)
		}
		r, name = f, filepath.Base(path)
	}
	c, err := n.Add(ctx, r, cidVersion)
	if err != nil {
		return err
	}
	if quiet {
		_, err = fmt.Fprintln(stdout, c)
	} else {
		_, err = fmt.Fprintf(stdout, "added %s %s\n", c, name)
	}
	return err
}

// writeFileAtomic writes through a temporary file so a failed get never
// leaves a partial file under the wanted name.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
