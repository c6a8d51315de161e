package ipfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// FS returns a read-only fs.FS whose top level holds content by CID string,
// with UnixFS files and directories below. Mounted at /ipfs
// (wazero.NewFSConfig().WithFSMount(fsys, "/ipfs")), it lets a function read
// /ipfs/<CID>/path with ordinary file calls.
//
// Given roots, only those are visible (and listed at the top), so a
// function reads the data its action declares and nothing else. Given none,
// any CID can be opened by name and the top lists nothing: the executor's
// shared mount. Blocks come from the cache or, on first use, from peers.
//
// ctx ends every fetch, and so does the node's mount timeout
// (WithMountTimeout) for each open, directory listing and open file: a
// guest blocked in a read cannot be stopped by its own deadline, so the
// mount must give up by itself.
func (n *Node) FS(ctx context.Context, roots ...cid.Cid) fs.FS {
	f := &ufs{ctx: ctx, timeout: n.mountTimeout, dag: n.dag, links: n.links, roots: map[string]cid.Cid{}, any: len(roots) == 0}
	for _, c := range roots {
		if _, dup := f.roots[c.String()]; !dup {
			f.roots[c.String()] = c
			f.names = append(f.names, c.String())
		}
	}
	slices.Sort(f.names)
	return f
}

type ufs struct {
	ctx     context.Context
	timeout time.Duration
	dag     ipld.DAGService
	links   *lru.Cache[dirLink, cid.Cid]
	roots   map[string]cid.Cid
	names   []string
	any     bool // every CID can be opened
}

var _ fs.FS = (*ufs)(nil)

// op bounds one mount operation.
func (f *ufs) op() (context.Context, context.CancelFunc) {
	return context.WithTimeout(f.ctx, f.timeout)
}

func (f *ufs) Open(name string) (fs.File, error) {
	ctx, cancel := f.op()
	defer cancel()
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &dir{info: rootInfo{}, list: f.listRoots}, nil
	}
	elems := strings.Split(name, "/")
	c, ok := f.roots[elems[0]]
	if !ok && f.any {
		var err error
		c, err = cid.Decode(elems[0])
		ok = err == nil
	}
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	// A directory on the way is fetched and decoded only when the entry
	// is not known yet: one of thousands of entries is a block of hundreds
	// of KB, and decoding it on every open cost milliseconds.
	var nd ipld.Node // c's node, nil until it is needed
	var err error
	for _, e := range elems[1:] {
		if child, ok := f.links.Get(dirLink{c, e}); ok {
			c, nd = child, nil
			continue
		}
		if nd == nil {
			if nd, err = f.dag.Get(ctx, c); err != nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: err}
			}
		}
		if nd, err = f.find(ctx, c, nd, e); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fs.ErrNotExist
			}
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		c = nd.Cid()
	}
	if nd == nil {
		if nd, err = f.dag.Get(ctx, c); err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
	}
	info, err := stat(elems[len(elems)-1], nd)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if info.IsDir() {
		d, err := uio.NewDirectoryFromNode(f.dag, nd)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &dir{info: info, list: func() ([]fs.DirEntry, error) { return f.listDir(d) }}, nil
	}
	// The file's readers live until Close, under one deadline.
	fctx, fcancel := f.op()
	open := func() (uio.DagReader, error) { return uio.NewDagReader(fctx, nd, f.dag) }
	r, err := open()
	if err != nil {
		fcancel()
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &file{info: info, open: open, cancel: fcancel, r: r}, nil
}

// dirLink is a directory's entry by name. Content is immutable, so the
// CID it names never changes and can be remembered for every mount.
type dirLink struct {
	dir  cid.Cid
	name string
}

// A node remembers at most dirLinks directory entries, of names up to
// maxLinkName bytes (longer ones are looked up each time): about 5 MB at
// worst.
const (
	dirLinks    = 16384
	maxLinkName = 255
)

// find is the entry name of the directory nd (whose CID is c). A basic
// directory's block holds every entry, so all are remembered: the next
// open of a sibling need not decode it again. A HAMT's entries are spread
// over shards, fetched on demand: only the one found is remembered.
func (f *ufs) find(ctx context.Context, c cid.Cid, nd ipld.Node, name string) (ipld.Node, error) {
	if pn, ok := nd.(*merkledag.ProtoNode); ok {
		if fsn, err := unixfs.FSNodeFromBytes(pn.Data()); err == nil && fsn.Type() == unixfs.TDirectory {
			var child *ipld.Link
			for _, l := range pn.Links() {
				f.remember(c, l.Name, l.Cid)
				if child == nil && l.Name == name {
					child = l
				}
			}
			if child == nil {
				return nil, os.ErrNotExist
			}
			return f.dag.Get(ctx, child.Cid)
		}
	}
	d, err := uio.NewDirectoryFromNode(f.dag, nd)
	if err != nil {
		return nil, fs.ErrNotExist
	}
	child, err := d.Find(ctx, name)
	if err == nil {
		f.remember(c, name, child.Cid())
	}
	return child, err
}

func (f *ufs) remember(dir cid.Cid, name string, child cid.Cid) {
	if len(name) <= maxLinkName {
		// The first of duplicate names wins, as in a lookup.
		f.links.ContainsOrAdd(dirLink{dir, name}, child)
	}
}

func (f *ufs) listRoots() ([]fs.DirEntry, error) {
	ctx, cancel := f.op()
	defer cancel()
	out := make([]fs.DirEntry, 0, len(f.names))
	for _, name := range f.names {
		nd, err := f.dag.Get(ctx, f.roots[name])
		if err != nil {
			return nil, err
		}
		info, err := stat(name, nd)
		if err != nil {
			return nil, err
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	return out, nil
}

func (f *ufs) listDir(d uio.Directory) ([]fs.DirEntry, error) {
	ctx, cancel := f.op()
	defer cancel()
	links, err := d.Links(ctx)
	if err != nil {
		return nil, err
	}
	cids := make([]cid.Cid, len(links))
	for i, l := range links {
		cids[i] = l.Cid
	}
	// The children are fetched together (one bitswap session) for their
	// types and sizes.
	nodes := map[cid.Cid]ipld.Node{}
	for _, nd := range ipld.GetNodes(ctx, merkledag.NewSession(ctx, f.dag), cids) {
		nd, err := nd.Get(ctx)
		if err != nil {
			return nil, err
		}
		nodes[nd.Cid()] = nd
	}
	out := make([]fs.DirEntry, 0, len(links))
	for _, l := range links {
		nd, ok := nodes[l.Cid]
		if !ok {
			return nil, ctx.Err()
		}
		info, err := stat(l.Name, nd)
		if err != nil {
			return nil, err
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// info describes a UnixFS node. Everything under /ipfs is immutable, so
// files are r--r--r-- and directories r-xr-xr-x whatever mode was imported.
type info struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.size }
func (i info) Mode() fs.FileMode  { return i.mode }
func (i info) ModTime() time.Time { return i.mtime }
func (i info) IsDir() bool        { return i.mode.IsDir() }
func (i info) Sys() any           { return nil }

func stat(name string, nd ipld.Node) (info, error) {
	switch nd := nd.(type) {
	case *merkledag.RawNode:
		return info{name: name, size: int64(len(nd.RawData())), mode: 0o444}, nil
	case *merkledag.ProtoNode:
		fsn, err := unixfs.FSNodeFromBytes(nd.Data())
		if err != nil {
			return info{}, err
		}
		i := info{name: name, mtime: fsn.ModTime()}
		switch fsn.Type() {
		case unixfs.TDirectory, unixfs.THAMTShard:
			i.mode = fs.ModeDir | 0o555
		case unixfs.TFile, unixfs.TRaw:
			i.mode, i.size = 0o444, int64(fsn.FileSize())
		default:
			return info{}, uio.ErrUnkownNodeType
		}
		return i, nil
	default:
		return info{}, uio.ErrUnkownNodeType
	}
}

// rootInfo is the top of the mount, which exists only as the list of roots.
type rootInfo struct{}

func (rootInfo) Name() string       { return "." }
func (rootInfo) Size() int64        { return 0 }
func (rootInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (rootInfo) ModTime() time.Time { return time.Time{} }
func (rootInfo) IsDir() bool        { return true }
func (rootInfo) Sys() any           { return nil }

// file is an open UnixFS file. ReadAt (wazero's pread) uses a reader of
// its own so it never moves the offset Read and Seek use; positional reads
// that follow each other then cost no re-seek through the DAG.
//
// Seek only sets the offset: the walk through the DAG to it, which fetches
// blocks, happens on the next Read, so that the executor, which times
// reads and not seeks, counts every wait for blocks in the activation's
// fetch time.
type file struct {
	info   info
	open   func() (uio.DagReader, error)
	cancel context.CancelFunc
	mu     sync.Mutex
	r      uio.DagReader
	off    int64         // Read's offset
	seek   bool          // r is not at off yet
	pr     uio.DagReader // for ReadAt, opened on first use
}

var (
	_ io.ReaderAt = (*file)(nil)
	_ io.Seeker   = (*file)(nil)
)

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *file) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.cancel()
	if f.pr != nil {
		f.pr.Close()
	}
	return f.r.Close()
}

func (f *file) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seek {
		if f.off >= f.info.size {
			return 0, io.EOF
		}
		if _, err := f.r.Seek(f.off, io.SeekStart); err != nil {
			return 0, err
		}
		f.seek = false
	}
	n, err := f.r.Read(p)
	f.off += int64(n)
	return n, err
}

func (f *file) Seek(off int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += f.off
	case io.SeekEnd:
		off += f.info.size
	default:
		return f.off, &fs.PathError{Op: "seek", Path: f.info.name, Err: fs.ErrInvalid}
	}
	if off < 0 {
		return f.off, &fs.PathError{Op: "seek", Path: f.info.name, Err: fs.ErrInvalid}
	}
	if off != f.off {
		f.off, f.seek = off, true
	}
	return off, nil
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.info.name, Err: fs.ErrInvalid}
	}
	if off >= f.info.size {
		return 0, io.EOF
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pr == nil {
		pr, err := f.open()
		if err != nil {
			return 0, err
		}
		f.pr = pr
	}
	if _, err := f.pr.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(f.pr, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}

// dir is an open directory; its entries are listed on first ReadDir.
type dir struct {
	info   fs.FileInfo
	list   func() ([]fs.DirEntry, error)
	listed []fs.DirEntry
	done   bool
	off    int
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dir) Close() error               { return nil }

func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}

func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.done {
		l, err := d.list()
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: d.info.Name(), Err: err}
		}
		d.listed, d.done = l, true
	}
	rest := d.listed[d.off:]
	if n <= 0 {
		d.off = len(d.listed)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}
