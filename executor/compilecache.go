package executor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/faasedge/faasedge/activation"
)

// CompileBudget bounds what compiling ahead of time (Precompile) may take
// from the host: compiles at once, each holding a core for up to seconds on
// a multi-MB module, and the bytes of compiled code kept on disk.
type CompileBudget struct {
	Concurrent int   // ahead-of-time compiles at once; 0: DefaultCompileConcurrency; < 0: none (Precompile refuses)
	DiskBytes  int64 // compiled code kept under the data dir; 0: DefaultCompileDiskBytes
}

// Defaults of CompileBudget: one core of a small edge device, and room on
// disk for a few hundred compiled Go modules (about 10 MB each).
const (
	DefaultCompileConcurrency = 1
	DefaultCompileDiskBytes   = 2 << 30
)

// WithCompileBudget bounds ahead-of-time compiling; see CompileBudget.
func WithCompileBudget(b CompileBudget) Option { return func(c *config) { c.compile = b } }

// Precompile compiles a's module off the activation path, so that its first
// run finds it compiled: the standalone controller calls it when an action
// is created or updated. It returns at once; the compile waits for a slot
// of the CompileBudget. It reports false when the executor is closed or
// too many compiles already wait, or the budget allows none (the first run
// then compiles, as without it). Errors are the first run's to report, as they would be without it.
func (e *Executor) Precompile(a *activation.Action) bool {
	if !e.aotEnter() {
		return false
	}
	act := *a
	go func() {
		if err := e.aotCompile(context.Background(), &act); err != nil {
			e.log.Debug("executor: compiling ahead of time", "code", act.Code.String(), "err", err)
		}
	}()
	return true
}

// Errors of Compile.
var (
	// ErrNoCompileBudget: the CompileBudget allows no compiles ahead of
	// time, or too many already wait for a slot.
	ErrNoCompileBudget = errors.New("executor: no compile budget")
	// ErrClosed: the executor is closed.
	ErrClosed = errors.New("executor closed")
)

// Compile is Precompile for callers that pace themselves (the invoker's
// prewarmer): it waits for a slot of the CompileBudget and for the
// compile, and returns the module's error, if any. The slot bounds the
// CPU: each compile runs on one goroutine and holds its slot to the end,
// so ctx ends the wait for a slot only, not a compile under way.
func (e *Executor) Compile(ctx context.Context, a *activation.Action) error {
	if !e.aotEnter() {
		if e.isClosed() {
			return ErrClosed
		}
		return ErrNoCompileBudget
	}
	return e.aotCompile(ctx, a)
}

// aotEnter counts a compile ahead of time as waiting, unless the budget or
// Close refuses it; aotCompile then ends it.
func (e *Executor) aotEnter() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || cap(e.compileSlots) == 0 || e.aotWaiting >= e.maxModules {
		return false
	}
	e.aotWaiting++
	e.loads.Add(1)
	return true
}

func (e *Executor) aotCompile(ctx context.Context, a *activation.Action) error {
	defer e.loads.Done()
	select {
	case e.compileSlots <- struct{}{}:
	case <-e.stop:
		e.mu.Lock()
		e.aotWaiting--
		e.mu.Unlock()
		return ErrClosed
	case <-ctx.Done():
		e.mu.Lock()
		e.aotWaiting--
		e.mu.Unlock()
		return ctx.Err()
	}
	e.mu.Lock()
	e.aotWaiting--
	e.aotActive++
	e.aotPeak = max(e.aotPeak, e.aotActive)
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.aotActive--
		e.mu.Unlock()
		<-e.compileSlots
	}()
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-e.stop:
			cancel()
		case <-cctx.Done():
		}
	}()
	m, _, err := e.module(cctx, a, time.Duration(runLimits(a.Limits).Timeout)*time.Millisecond)
	if err != nil {
		return err
	}
	e.done(m)
	return nil
}

// diskCache is wazero's compilation cache directory as this executor
// keeps it: wazero names each entry by the SHA-256 of the module (with the
// CPU's features) and writes its own version into the entry, so an entry
// is found only for the same module bytes and is dropped by a wazero of
// another version. What wazero leaves to its user is done here: entries of
// other wazero versions are removed, the directory is held within a byte
// budget, and a damaged entry (which wazero reports as a compile error,
// failing the module for good) is removed so that the module compiles
// again.
type diskCache struct {
	dir      string // wazero's directory for this version, OS and architecture
	root     string // the directory given to wazero
	maxBytes int64
}

// wazeroMagic and wazeroVersion are what wazero writes at the head of an
// entry (internal/engine/wazevo/engine_cache.go).
var (
	wazeroMagic   = []byte("WAZEVO")
	wazeroVersion = linkedWazeroVersion()
)

// linkedWazeroVersion reads the version the linked wazero writes into its
// entries, as wazero reads it (internal/version).
func linkedWazeroVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	for _, d := range info.Deps {
		if strings.Contains(d.Path, "github.com/tetratelabs/wazero") && d.Version != "" && d.Version != "(devel)" {
			return d.Version
		}
	}
	return "dev"
}

func newDiskCache(root string, maxBytes int64) *diskCache {
	return &diskCache{
		root:     root,
		dir:      filepath.Join(root, "wazero-"+wazeroVersion+"-"+runtime.GOARCH+"-"+runtime.GOOS),
		maxBytes: maxBytes,
	}
}

// dropOtherVersions removes the directories of other wazero versions: this
// executor can never use them, and they count against the disk.
func (d *diskCache) dropOtherVersions() error {
	entries, err := os.ReadDir(d.root)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(d.root, e.Name())
		if e.IsDir() && strings.HasPrefix(e.Name(), "wazero-") && p != d.dir {
			errs = append(errs, os.RemoveAll(p))
		}
	}
	return errors.Join(errs...)
}

// trim removes the oldest entries until the directory holds at most
// maxBytes. Compiled modules in memory are not affected: only a later
// process compiles them again.
func (d *diskCache) trim() error {
	type entry struct {
		path string
		size int64
		mod  time.Time
	}
	var all []entry
	var total int64
	err := filepath.WalkDir(d.dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || inFlight(de.Name()) {
			return err
		}
		fi, err := de.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		all = append(all, entry{p, fi.Size(), fi.ModTime()})
		total += fi.Size()
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(all, func(a, b entry) int { return a.mod.Compare(b.mod) })
	var errs []error
	for _, e := range all {
		if total <= d.maxBytes {
			break
		}
		if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		total -= e.size
	}
	return errors.Join(errs...)
}

// inFlight reports a file wazero is still writing: it writes an entry to
// "<key>.<random>.tmp" and renames it into place, so removing one breaks
// the compile of another executor (or process) sharing the directory.
func inFlight(name string) bool { return strings.HasSuffix(name, ".tmp") }

// isCacheError tells a damaged cache entry from a bad module: wazero's
// errors reading an entry all begin so.
func isCacheError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "compilationcache:")
}

// dropDamaged removes every entry that is not whole: wrong magic, another
// version, or native code that fails its checksum. It reports how many it
// removed.
func (d *diskCache) dropDamaged() (int, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if e.IsDir() || inFlight(e.Name()) {
			continue
		}
		p := filepath.Join(d.dir, e.Name())
		if entryWhole(p) {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// entryWhole checks an entry as wazero reads it, up to and including the
// checksum of its native code.
func entryWhole(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	size := fi.Size()
	head := make([]byte, len(wazeroMagic)+1+len(wazeroVersion)+4)
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head[:len(wazeroMagic)], wazeroMagic) ||
		int(head[len(wazeroMagic)]) != len(wazeroVersion) || string(head[len(wazeroMagic)+1:len(head)-4]) != wazeroVersion {
		return false
	}
	nfuncs := int64(binary.LittleEndian.Uint32(head[len(head)-4:]))
	if nfuncs*8 > size {
		return false
	}
	if _, err := f.Seek(nfuncs*8, io.SeekCurrent); err != nil {
		return false
	}
	var n [8]byte
	if _, err := io.ReadFull(f, n[:]); err != nil {
		return false
	}
	codeLen := binary.LittleEndian.Uint64(n[:])
	if codeLen == 0 {
		return true // wazero writes no checksum for no code
	}
	if codeLen > uint64(size) {
		return false
	}
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	if _, err := io.CopyN(h, f, int64(codeLen)); err != nil {
		return false
	}
	if _, err := io.ReadFull(f, n[:4]); err != nil {
		return false
	}
	return binary.LittleEndian.Uint32(n[:4]) == h.Sum32()
}

// Ready reports whether code's module is compiled and in memory, so that
// a run of it does not wait to compile (Precompile's work is done).
func (e *Executor) Ready(code activation.Code) bool {
	e.mu.Lock()
	m := e.modules[code.Key()]
	e.mu.Unlock()
	if m == nil {
		return false
	}
	select {
	case <-m.ready:
		return m.err == nil
	default:
		return false
	}
}
