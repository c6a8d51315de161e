// Package memtrim keeps a long-running process's resident memory to what it
// uses: the pages of the binary that start-up touched once and the heap it
// freed.
//
// A Go binary's start-up runs the init functions of every package it links,
// hundreds of them spread over tens of megabytes of code and read-only data;
// the kernel maps each touched page with its neighbours (fault-around, and
// whole large folios of the page cache), and they stay mapped, counted in
// the process's RSS, though the process never runs them again. Unmapping
// those clean, file-backed pages (madvise MADV_DONTNEED) costs nothing: they
// stay in the page cache, and the code the process does run faults back in
// (a minor fault, no I/O).
package memtrim

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Every is how often Run trims: often enough that what a burst of work or a
// rare path mapped is let go within a minute of idleness, rarely enough
// that the faults back in cost nothing measurable.
const Every = 10 * time.Second

// Run trims at once and then every interval until ctx ends.
func Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		_, _ = Trim()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Trim unmaps the resident pages of the running binary's read-only
// mappings (code, read-only data) and returns freed heap to the system. It
// reports how many bytes of the binary were resident before.
func Trim() (int64, error) {
	debug.FreeOSMemory()
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return 0, fmt.Errorf("memtrim: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("memtrim: %w", err)
	}
	var total int64
	for _, m := range trimmable(smaps, unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino) {
		// The addresses come from smaps, not from Go pointers: the raw
		// system call takes them as they are.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno != 0 {
			return total, fmt.Errorf("memtrim: madvise %#x-%#x: %w", m.start, m.end, errno)
		}
		total += m.rss
	}
	return total, nil
}

// mapping is one read-only mapping of the binary in /proc/self/smaps.
type mapping struct {
	start, end uintptr
	rss, anon  int64 // bytes
}

// trimmable returns the read-only private mappings of the file dev/ino in
// an smaps listing that have pages resident, all of them the file's own: a
// read-only mapping holding anonymous pages (relocations the dynamic loader
// wrote before making it read-only) would lose them.
func trimmable(smaps []byte, major, minor uint32, ino uint64) []mapping {
	var out []mapping
	for _, m := range exeMappings(smaps, major, minor, ino) {
		if m.anon == 0 && m.rss > 0 {
			out = append(out, m)
		}
	}
	return out
}

// exeMappings returns the read-only private mappings of the file dev/ino
// in an smaps listing.
func exeMappings(smaps []byte, major, minor uint32, ino uint64) []mapping {
	var out []mapping
	var cur *mapping
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4 {
			cur = nil
			lo, hi, _ := strings.Cut(f[0], "-")
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			maj, mino, _ := strings.Cut(f[3], ":")
			dmaj, err3 := strconv.ParseUint(maj, 16, 32)
			dmin, err4 := strconv.ParseUint(mino, 16, 32)
			inode, err5 := strconv.ParseUint(f[4], 10, 64)
			if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
				continue
			}
			if f[1][1] == 'w' || f[1][3] != 'p' || uint32(dmaj) != major || uint32(dmin) != minor || inode != ino {
				continue
			}
			out = append(out, mapping{start: uintptr(start), end: uintptr(end)})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "Rss":
			cur.rss = kb << 10
		case "Anonymous":
			cur.anon = kb << 10
		}
	}
	return out
}
