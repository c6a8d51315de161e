package ipfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"

	chunk "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// ChunkSize is Kubo's default chunker, size-262144.
const ChunkSize = 256 << 10

// importer holds Kubo's `ipfs add` defaults for one CID version: sha2-256,
// 256 KiB fixed-size chunks, balanced layout with 174 links per node, and
// raw leaves exactly when the CID version is 1.
type importer struct {
	prefix    cid.Prefix
	rawLeaves bool
}

func newImporter(cidVersion int) (importer, error) {
	switch cidVersion {
	case 0:
		return importer{prefix: merkledag.V0CidPrefix()}, nil
	case 1:
		return importer{prefix: merkledag.V1CidPrefix(), rawLeaves: true}, nil
	default:
		return importer{}, fmt.Errorf("ipfs: CID version %d: want 0 or 1", cidVersion)
	}
}

func (im importer) file(dag ipld.DAGService, r io.Reader) (ipld.Node, error) {
	params := helpers.DagBuilderParams{
		Dagserv:    dag,
		Maxlinks:   helpers.DefaultLinksPerBlock,
		RawLeaves:  im.rawLeaves,
		CidBuilder: im.prefix,
	}
	db, err := params.New(chunk.NewSizeSplitter(r, ChunkSize))
	if err != nil {
		return nil, err
	}
	return balanced.Layout(db)
}

// Add imports r as a UnixFS file, pins it and announces it, and returns the
// CID Kubo's `ipfs add` (cidVersion 0) or `ipfs add --cid-version 1` gives
// for the same bytes.
func (n *Node) Add(ctx context.Context, r io.Reader, cidVersion int) (cid.Cid, error) {
	return n.add(ctx, cidVersion, func(im importer, dag ipld.DAGService) (ipld.Node, error) {
		return im.file(dag, r)
	})
}

// AddFS imports the tree under root of fsys as UnixFS directories and files,
// pins and announces it, and returns the root directory's CID: the one
// Kubo's `ipfs add -r` gives with the same CID version. Symlinks and other
// special files are refused.
func (n *Node) AddFS(ctx context.Context, fsys fs.FS, root string, cidVersion int) (cid.Cid, error) {
	return n.add(ctx, cidVersion, func(im importer, dag ipld.DAGService) (ipld.Node, error) {
		return im.dir(ctx, dag, fsys, root)
	})
}

// add builds a DAG with Kubo's settings for cidVersion, writes it in one
// batch, and pins it. Eviction waits meanwhile: the new blocks exist
// nowhere else until the pin covers them.
func (n *Node) add(ctx context.Context, cidVersion int, build func(importer, ipld.DAGService) (ipld.Node, error)) (_ cid.Cid, err error) {
	im, err := newImporter(cidVersion)
	if err != nil {
		return cid.Undef, err
	}
	release := n.store.holdEviction()
	defer func() { err = errors.Join(err, release(ctx)) }()
	batch := ipld.NewBufferedDAG(ctx, n.dag)
	nd, err := build(im, batch)
	if err != nil {
		return cid.Undef, fmt.Errorf("ipfs: add: %w", err)
	}
	if err := batch.Commit(); err != nil {
		return cid.Undef, fmt.Errorf("ipfs: add: %w", err)
	}
	return nd.Cid(), n.pinAdded(ctx, nd)
}

func (im importer) dir(ctx context.Context, dag ipld.DAGService, fsys fs.FS, name string) (ipld.Node, error) {
	entries, err := fs.ReadDir(fsys, name)
	if err != nil {
		return nil, err
	}
	d, err := uio.NewDirectory(dag, uio.WithCidBuilder(im.prefix))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		p := path.Join(name, e.Name())
		var child ipld.Node
		switch {
		case e.IsDir():
			child, err = im.dir(ctx, dag, fsys, p)
		case e.Type().IsRegular():
			child, err = im.regular(dag, fsys, p)
		default:
			err = fmt.Errorf("%s: unsupported file type %s", p, e.Type())
		}
		if err != nil {
			return nil, err
		}
		if err := d.AddChild(ctx, e.Name(), child); err != nil {
			return nil, err
		}
	}
	nd, err := d.GetNode()
	if err != nil {
		return nil, err
	}
	return nd, dag.Add(ctx, nd)
}

func (im importer) regular(dag ipld.DAGService, fsys fs.FS, name string) (ipld.Node, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return im.file(dag, f)
}

func (n *Node) pinAdded(ctx context.Context, nd ipld.Node) error {
	if err := n.pin(ctx, nd, "add"); err != nil {
		return err
	}
	n.provide(ctx, nd.Cid())
	return nil
}
