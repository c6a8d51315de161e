package ipfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/faasedge/faasedge/p2p"
)

// fixtureTree is a small data set: an empty file, a one-block file, a
// multi-block file, and nested and empty directories.
var fixtureTree = fstest.MapFS{
	"file":               {Data: []byte("hello, faasedge!\n")},
	"empty":              {Data: []byte{}},
	"data/big.bin":       {Data: patternBytes("tree", ChunkSize+17)}, // two blocks
	"data/nested/a.txt":  {Data: []byte("a")},
	"data/nested/b.json": {Data: []byte(`{"b":true}`)},
	"void":               {Mode: fs.ModeDir | 0o755},
}

func TestFSMount(t *testing.T) {
	for _, v := range []int{0, 1} {
		t.Run("v"+string(rune('0'+v)), func(t *testing.T) {
			ctx := testCtx(t)
			a := newNode(t, p2p.Config{})
			dir, err := a.AddFS(ctx, fixtureTree, ".", v)
			if err != nil {
				t.Fatal(err)
			}
			single, err := a.Add(ctx, bytes.NewReader(fixtureTree["data/big.bin"].Data), v)
			if err != nil {
				t.Fatal(err)
			}
			// Read on another node: every block arrives over bitswap.
			b := newNode(t, p2p.Config{}, WithPeers(a.Host().FullAddrs()...))
			fsys := b.FS(ctx, dir, single)
			d := dir.String()
			if err := fstest.TestFS(fsys, d+"/file", d+"/empty", d+"/data/big.bin",
				d+"/data/nested/a.txt", d+"/data/nested/b.json", d+"/void", single.String()); err != nil {
				t.Fatal(err)
			}
			for name, f := range fixtureTree {
				if f.Mode.IsDir() {
					continue
				}
				got, err := fs.ReadFile(fsys, d+"/"+name)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, f.Data) {
					t.Errorf("%s: read %d bytes, want %d", name, len(got), len(f.Data))
				}
			}
			got, err := fs.ReadFile(fsys, single.String())
			if err != nil || !bytes.Equal(got, fixtureTree["data/big.bin"].Data) {
				t.Fatalf("file root: %d bytes, err %v", len(got), err)
			}
		})
	}
}

func TestFSMountRefusals(t *testing.T) {
	ctx := testCtx(t)
	a := newNode(t, p2p.Config{})
	dir, err := a.AddFS(ctx, fixtureTree, ".", 1)
	if err != nil {
		t.Fatal(err)
	}
	hidden, err := a.Add(ctx, bytes.NewReader([]byte("not mounted")), 1)
	if err != nil {
		t.Fatal(err)
	}
	fsys := a.FS(ctx, dir)
	d := dir.String()
	tests := []struct {
		name string
		path string
		is   error
	}{
		{"missing file", d + "/nope", fs.ErrNotExist},
		{"below a file", d + "/file/x", fs.ErrNotExist},
		{"root not mounted", hidden.String(), fs.ErrNotExist},
		{"not a CID", "hello", fs.ErrNotExist},
		{"invalid path", "/" + d, fs.ErrInvalid},
		{"dot-dot", d + "/../x", fs.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := fsys.Open(tt.path)
			if err == nil {
				f.Close()
			}
			if !errors.Is(err, tt.is) {
				t.Fatalf("Open(%q) = %v, want %v", tt.path, err, tt.is)
			}
		})
	}
	// A directory reads as an error, not as bytes.
	f, err := fsys.Open(d + "/data")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Read(make([]byte, 1)); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("Read on a directory: %v", err)
	}
}

// TestFSMountGivesUp shows that a read of content no one serves ends by
// itself: a guest blocked in it could not be stopped otherwise.
func TestFSMountGivesUp(t *testing.T) {
	n := newNode(t, p2p.Config{}, WithMountTimeout(300*time.Millisecond))
	const nowhere = "bafkreie7ohywtosou76tasm7j63yigtzxe7d5zqus4zu3j6oltvgtibeom"
	_, err := fs.ReadFile(n.FS(testCtx(t)), nowhere)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the mount's deadline", err)
	}
}

// largeDir is a directory of many small files, as a dataset read record
// by record: one block of hundreds of KB listing them all.
func largeDir(files int) fstest.MapFS {
	tree := fstest.MapFS{}
	for i := range files {
		tree[fmt.Sprintf("set/posts/%d.json", i)] = &fstest.MapFile{Data: fmt.Appendf(nil, `{"id":%d,"text":"post %d"}`, i, i)}
	}
	return tree
}

// countingDAG counts the nodes a mount asks for.
type countingDAG struct {
	ipld.DAGService
	gets atomic.Int64
}

func (d *countingDAG) Get(ctx context.Context, c cid.Cid) (ipld.Node, error) {
	d.gets.Add(1)
	return d.DAGService.Get(ctx, c)
}

// TestFSMountRemembersEntries shows that opening files of a directory
// already looked up asks only for the files' own nodes: the directories on
// the way, one of them a block listing 5,000 entries, are not fetched and
// decoded again, which made every open of the REST workload's records cost
// milliseconds.
func TestFSMountRemembersEntries(t *testing.T) {
	ctx := testCtx(t)
	n := newNode(t, p2p.Config{})
	root, err := n.AddFS(ctx, largeDir(5000), "set", 1)
	if err != nil {
		t.Fatal(err)
	}
	fsys := n.FS(ctx)
	dag := &countingDAG{DAGService: fsys.(*ufs).dag}
	fsys.(*ufs).dag = dag
	read := func(i int) {
		t.Helper()
		got, err := fs.ReadFile(fsys, fmt.Sprintf("%s/posts/%d.json", root, i))
		if want := fmt.Sprintf(`{"id":%d,"text":"post %d"}`, i, i); err != nil || string(got) != want {
			t.Fatalf("post %d: %q, %v; want %q", i, got, err, want)
		}
	}
	read(0)
	if g := dag.gets.Load(); g != 3 {
		t.Fatalf("first open: %d nodes, want 3 (root, posts, file)", g)
	}
	for i := 1; i <= 10; i++ {
		dag.gets.Store(0)
		read(i * 431)
		if g := dag.gets.Load(); g != 1 {
			t.Fatalf("open of post %d: %d nodes asked for, want only the file's", i*431, g)
		}
	}
	if _, err := fsys.Open(root.String() + "/posts/nope.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing entry: %v, want fs.ErrNotExist", err)
	}
}

// BenchmarkFSOpenLargeDir opens and reads files of a directory of 5,000
// entries on the node that holds them (the REST workload's IPFS dataset
// has its posts so).
func BenchmarkFSOpenLargeDir(b *testing.B) {
	ctx := testCtx(b)
	n := newNode(b, p2p.Config{}, WithDataDir(b.TempDir()))
	root, err := n.AddFS(ctx, largeDir(5000), "set", 1)
	if err != nil {
		b.Fatal(err)
	}
	fsys := n.FS(ctx)
	i := 0
	for b.Loop() {
		if _, err := fs.ReadFile(fsys, fmt.Sprintf("%s/posts/%d.json", root, i*7919%5000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestFSMountSeek: a seek only sets the offset (the walk to it, and its
// block fetches, wait for the next read) and reads continue from there,
// within a block, across blocks and past the end.
func TestFSMountSeek(t *testing.T) {
	ctx := testCtx(t)
	n := newNode(t, p2p.Config{})
	want := fixtureTree["data/big.bin"].Data // two blocks
	c, err := n.Add(ctx, bytes.NewReader(want), 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := n.FS(ctx).Open(c.String())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.(io.ReadSeeker)
	size := int64(len(want))
	for _, tc := range []struct {
		name      string
		off       int64
		whence    int
		pos, read int64 // the offset Seek answers, and the bytes to read from it
	}{
		{"into the second block", ChunkSize + 5, io.SeekStart, ChunkSize + 5, 7},
		{"back into the first", -ChunkSize, io.SeekCurrent, 12, 100},
		{"from the end", -3, io.SeekEnd, size - 3, 3},
		{"where it is", 0, io.SeekCurrent, size, 0},
		{"past the end", size + 10, io.SeekStart, size + 10, 0},
		{"the start", 0, io.SeekStart, 0, 4},
	} {
		pos, err := s.Seek(tc.off, tc.whence)
		if err != nil || pos != tc.pos {
			t.Fatalf("%s: Seek = %d, %v; want %d", tc.name, pos, err, tc.pos)
		}
		got := make([]byte, tc.read)
		if _, err := io.ReadFull(s, got); err != nil {
			t.Fatalf("%s: read %d bytes: %v", tc.name, tc.read, err)
		}
		if !bytes.Equal(got, want[min(pos, size):min(pos+tc.read, size)]) {
			t.Fatalf("%s: read %x", tc.name, got)
		}
		if tc.read == 0 {
			if n, err := s.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("%s: Read at the end = %d, %v", tc.name, n, err)
			}
		}
	}
	if _, err := s.Seek(-1, io.SeekStart); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("Seek before the start: %v", err)
	}
}
