package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faasedge/faasedge/internal/memtrim"
)

// Memory reads a process's resident set size and the anonymous part of it
// (heap and stacks, without the clean pages of the binary) in MB, from
// /proc/<pid>/smaps_rollup: the process's own figures, which GNU time's
// %M is not for a child Go starts (it inherits the parent's high-water
// mark).
func Memory(t testing.TB, pid int) (rss, anon float64) {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		k, v, _ := strings.Cut(l, ":")
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		switch k {
		case "Rss":
			rss = kb / 1024
		case "Anonymous":
			anon = kb / 1024
		}
	}
	return rss, anon
}

// IdleMemory is the largest RSS and anonymous memory of an idle process
// sampled over one trim period of memtrim and a little more, after one
// period for the pages of its start-up to be let go: its RSS rises between
// trims as it runs, so one sample right after a trim would flatter it.
func IdleMemory(t testing.TB, pid int) (rss, anon float64) {
	t.Helper()
	time.Sleep(memtrim.Every)
	end := time.Now().Add(memtrim.Every + 2*time.Second)
	for time.Now().Before(end) {
		r, a := Memory(t, pid)
		rss, anon = max(rss, r), max(anon, a)
		time.Sleep(250 * time.Millisecond)
	}
	return rss, anon
}

// CPUTime is the CPU time (user and system, all threads) a process has
// used: getrusage's figure for a process that is not our child to wait for,
// read from /proc/<pid>/stat in USER_HZ ticks (100 a second on Linux).
func CPUTime(t testing.TB, pid int) time.Duration {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	_, rest, ok := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		t.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// ReleaseBuild builds pkg into out as make release does (static,
// stripped), then drops the file from the page cache, so that a process
// started from it maps pages read from disk, as a deployed binary's are:
// benchmarks measure the memory of the binary that is deployed. The
// linker writes its output through a shared mapping, which leaves it in
// the page cache in large folios (up to 2 MB), and Linux (6.18 here) maps
// a large folio whole on a fault in it (fault-around), so a process
// started from a freshly linked binary counts up to 2 MB of RSS for every
// page of code it touches; pages read back from disk come in readahead's
// smaller folios.
func ReleaseBuild(out, pkg string) ([]byte, error) {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return b, err
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return nil, err
	}
	// Clean pages mapped by no process are dropped.
	return nil, unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
