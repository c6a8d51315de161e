package executor

import (
	"io/fs"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"

	"github.com/faasedge/faasedge/activation"
)

// mount is a read-only file system shown to guests at guestPath.
type mount struct {
	guestPath string
	fsys      experimentalsys.FS
}

// WithMount shows fsys to every guest, read-only, at guestPath (e.g. "/ipfs").
// The time a guest waits on it and the bytes it reads count in its
// activation's Result.Fetch.
func WithMount(guestPath string, fsys fs.FS) Option {
	return func(c *config) { c.mounts = append(c.mounts, mount{guestPath, &sysfs.AdaptFS{FS: fsys}}) }
}

// fetchMeter counts what the guests of one instance waited for on their
// mounts. An instance serves one activation at a time, on the calling
// goroutine, so the counters need no lock; they are atomic because a
// guest stopped at its deadline may still be inside a read when the run
// reads them.
type fetchMeter struct {
	ns, bytes atomic.Int64
}

// add counts an operation that began at start and delivered n bytes.
func (m *fetchMeter) add(start time.Time, n int) {
	m.ns.Add(int64(time.Since(start)))
	if n > 0 {
		m.bytes.Add(int64(n))
	}
}

// take returns what was counted since the last take and starts counting
// again from zero.
func (m *fetchMeter) take() activation.Fetch {
	return activation.Fetch{Time: time.Duration(m.ns.Swap(0)), Bytes: m.bytes.Swap(0)}
}

// fsConfig shows the executor's mounts to one instance, counting in m.
func (e *Executor) fsConfig(m *fetchMeter) wazero.FSConfig {
	fc := wazero.NewFSConfig()
	for _, mt := range e.mounts {
		fc = fc.(sysfs.FSConfig).WithSysFSMount(&meteredFS{FS: mt.fsys, m: m}, mt.guestPath)
	}
	return fc
}

// meteredFS times the operations of a mount that wait for data: opening
// and statting (which resolve a path, fetching blocks under /ipfs), and
// what the files it opens do.
type meteredFS struct {
	experimentalsys.FS
	m *fetchMeter
}

func (f *meteredFS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	start := time.Now()
	file, errno := f.FS.OpenFile(path, flag, perm)
	// wazero opens the mount's top on the guest's first use of its
	// preopened directory (a Go guest's runtime does at start): that is
	// no wait for data, and would give every run a fetch.
	if path != "." {
		f.m.add(start, 0)
	}
	if errno != 0 {
		return nil, errno
	}
	return &meteredFile{File: file, m: f.m}, 0
}

func (f *meteredFS) Stat(path string) (sys.Stat_t, experimentalsys.Errno) {
	start := time.Now()
	defer f.m.add(start, 0)
	return f.FS.Stat(path)
}

func (f *meteredFS) Lstat(path string) (sys.Stat_t, experimentalsys.Errno) {
	start := time.Now()
	defer f.m.add(start, 0)
	return f.FS.Lstat(path)
}

// meteredFile times reads, directory listings and stats; the bytes read
// count too. A seek waits for no data: the /ipfs mount walks its DAG to
// the new offset on the next read (p2p/ipfs), which is timed.
type meteredFile struct {
	experimentalsys.File
	m *fetchMeter
}

func (f *meteredFile) Read(buf []byte) (int, experimentalsys.Errno) {
	start := time.Now()
	n, errno := f.File.Read(buf)
	f.m.add(start, n)
	return n, errno
}

func (f *meteredFile) Pread(buf []byte, off int64) (int, experimentalsys.Errno) {
	start := time.Now()
	n, errno := f.File.Pread(buf, off)
	f.m.add(start, n)
	return n, errno
}

func (f *meteredFile) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	start := time.Now()
	defer f.m.add(start, 0)
	return f.File.Readdir(n)
}

func (f *meteredFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	start := time.Now()
	defer f.m.add(start, 0)
	return f.File.Stat()
}
