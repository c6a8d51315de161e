package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A run that cannot tear down (its process was SIGKILLed, the machine
// lost power mid-run) leaves its namespaces, links and cgroups behind.
// To find them later without ever touching another run's, or anything
// the testbed did not make, each run records itself in runsDir before it
// creates anything and holds the record's lock while it lives: the kernel
// drops the lock when the process dies, however it dies. Clean removes
// the objects of every run whose record is unlocked. runsDir is on the
// same tmpfs as the namespaces' mounts, so records and what they name go
// away together on a reboot.
const runsDir = "/run/faasedge-eval"

// objectName matches the names a run gives what it creates: namespaces
// and node cgroups prefix+"n"+i, the bridge prefix+"br", veth ends
// prefix+"h"+i and prefix+"p"+i, Redis's cgroup prefix+"redis".
var objectName = regexp.MustCompile(`^(fe[0-9a-f]{4})(n[0-9]+|br|h[0-9]+|p[0-9]+|redis)$`)

// Left is what exists with a run's prefix: namespaces, links in the root
// namespace, cgroup directories (one per v1 hierarchy) and the processes
// in those namespaces or groups.
type Left struct {
	Netns, Links, Cgroups []string
	Procs                 []int
}

// Empty reports whether nothing is left.
func (l Left) Empty() bool { return len(l.Netns)+len(l.Links)+len(l.Cgroups)+len(l.Procs) == 0 }

func (l Left) String() string {
	return fmt.Sprintf("namespaces %v, links %v, cgroups %v, processes %v", l.Netns, l.Links, l.Cgroups, l.Procs)
}

// Leftovers lists the namespaces, links (root namespace) and cgroups
// whose names start with prefix, in every v1 hierarchy of the testbed's
// controllers (not only below this process's groups: a run started from
// another session made its groups below that session's), and the
// processes running in them.
func Leftovers(prefix string) (Left, error) {
	all, err := scanObjects(func(name string) bool { return strings.HasPrefix(name, prefix) })
	if err != nil {
		return Left{}, err
	}
	return all[prefix], nil
}

// scanObjects lists the objects whose names match, by run prefix (the
// first six characters of a name).
func scanObjects(match func(name string) bool) (map[string]Left, error) {
	out := map[string]Left{}
	add := func(name string, f func(l *Left)) {
		if !match(name) || len(name) < 6 {
			return
		}
		l := out[name[:6]]
		f(&l)
		out[name[:6]] = l
	}
	ents, err := os.ReadDir("/run/netns")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		add(e.Name(), func(l *Left) { l.Netns = append(l.Netns, e.Name()) })
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, i := range ifs {
		add(i.Name, func(l *Left) { l.Links = append(l.Links, i.Name) })
	}
	groups, err := cgroupsNamed(match)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		add(filepath.Base(g), func(l *Left) { l.Cgroups = append(l.Cgroups, g) })
	}
	for p, l := range out {
		if l.Procs, err = procsIn(l.Netns, l.Cgroups); err != nil {
			return nil, err
		}
		out[p] = l
	}
	return out, nil
}

// cgroupsNamed lists the group directories whose names match, in every v1
// hierarchy of the testbed's controllers; a match's subgroups are its own.
func cgroupsNamed(match func(name string) bool) ([]string, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{} // a mount of several controllers comes once per controller
	for _, m := range mounts {
		if seen[m.point] {
			continue
		}
		seen[m.point] = true
		err := filepath.WalkDir(m.point, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				// A group removed during the walk.
				return nil
			}
			if !d.IsDir() || path == m.point {
				return nil
			}
			if match(d.Name()) {
				out = append(out, path)
				return fs.SkipDir
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// procsIn lists the processes in the named namespaces or in the cgroup
// directories, this one left out.
func procsIn(netns, cgroups []string) ([]int, error) {
	var pids []int
	for _, g := range cgroups {
		b, err := os.ReadFile(filepath.Join(g, "cgroup.procs"))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	if len(netns) > 0 {
		// A process is in a namespace when its ns/net link names the
		// inode the namespace's mount in /run/netns holds.
		inodes := map[string]bool{}
		for _, ns := range netns {
			var st unix.Stat_t
			if err := unix.Stat(filepath.Join("/run/netns", ns), &st); err == nil {
				inodes[fmt.Sprintf("net:[%d]", st.Ino)] = true
			}
		}
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if l, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "net")); err == nil && inodes[l] {
				pids = append(pids, pid)
			}
		}
	}
	slices.Sort(pids)
	pids = slices.Compact(pids)
	return slices.DeleteFunc(pids, func(p int) bool { return p == os.Getpid() }), nil
}

// removeRun removes everything named with prefix: it kills the processes
// in the run's namespaces and groups, then deletes the namespaces (the
// veth ends inside go with them), the links left in the root namespace
// and the groups. It returns what it removed; what is already gone is no
// error, so it can run again after a failure.
func removeRun(ctx context.Context, prefix string) (Left, error) {
	found, err := Leftovers(prefix)
	if err != nil {
		return found, err
	}
	var errs []error
	for _, pid := range found.Procs {
		if err := unix.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("testbed: kill %d: %w", pid, err))
		}
	}
	// A killed process leaves its groups and namespace as it exits.
	for deadline := time.Now().Add(30 * time.Second); ; {
		pids, err := procsIn(found.Netns, found.Cgroups)
		if err != nil || len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("testbed: processes %v still running after SIGKILL", pids))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	errs = append(errs, teardownNet(ctx, Names{Prefix: prefix}), removeCgroups(prefix))
	return found, errors.Join(errs...)
}

// runRecord is a run's entry in runsDir, named for its prefix.
type runRecord struct {
	Prefix  string    `json:"prefix"`
	Pid     int       `json:"pid"`
	Started time.Time `json:"started"`
	Dir     string    `json:"dir"`
}

func recordPath(prefix string) string { return filepath.Join(runsDir, prefix+".run") }

// runLock is a live run's record, locked.
type runLock struct {
	f    *os.File
	path string
}

// claimRun records a run and locks the record. The record is written and
// locked under a temporary name and then linked to its own, so Clean
// never finds it unlocked while the run lives; the link fails with
// fs.ErrExist when a record of the prefix exists.
func claimRun(rec runRecord) (*runLock, error) {
	if err := os.MkdirAll(runsDir, 0o755); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	f, err := os.CreateTemp(runsDir, ".claim-*")
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	defer os.Remove(f.Name())
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		err = json.NewEncoder(f).Encode(rec)
	}
	if err == nil {
		err = os.Link(f.Name(), recordPath(rec.Prefix))
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("testbed: record the run: %w", err)
	}
	return &runLock{f: f, path: recordPath(rec.Prefix)}, nil
}

// release lets go of the record; done removes it too. A run whose
// teardown left something keeps its record, for Clean to finish the job.
func (l *runLock) release(done bool) {
	if done {
		_ = os.Remove(l.path)
	}
	l.f.Close()
}

// lockRecord locks the record at path, if its run has ended. It returns
// nil when the run lives (or another Clean holds it) or the record went
// away meanwhile.
func lockRecord(path string) (*runLock, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, err
	}
	// The run may have removed its record between the open and the lock.
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Stat(path, &b) != nil || a.Ino != b.Ino {
		f.Close()
		return nil, nil
	}
	return &runLock{f: f, path: path}, nil
}

func (l *runLock) record() runRecord {
	var rec runRecord
	if _, err := l.f.Seek(0, io.SeekStart); err == nil {
		// A run killed while writing leaves a broken record: its prefix
		// is in its name.
		_ = json.NewDecoder(io.LimitReader(l.f, 1<<16)).Decode(&rec)
	}
	rec.Prefix = strings.TrimSuffix(filepath.Base(l.path), ".run")
	return rec
}

// records lists the runs recorded, live or ended.
func records() ([]string, error) {
	m, err := filepath.Glob(filepath.Join(runsDir, "fe*.run"))
	slices.Sort(m)
	return m, err
}

// endedRuns are the prefixes of recorded runs that ended without tearing
// down.
func endedRuns() []string {
	paths, _ := records()
	var out []string
	for _, p := range paths {
		if l, err := lockRecord(p); err == nil && l != nil {
			out = append(out, l.record().Prefix)
			l.f.Close()
		}
	}
	return out
}

// Clean removes what earlier runs left: for every recorded run whose
// process is gone, the processes still in its namespaces and groups,
// its namespaces, links and groups, then its record. It writes a line per
// run to out. Live runs are left alone, and so is everything named like
// the testbed's objects that no record names (made by a faasedge from
// before records, or not by the testbed): those are listed with the
// commands that would remove them. Cleaning again finds nothing to do.
func Clean(ctx context.Context, out io.Writer) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	paths, err := records()
	if err != nil {
		return err
	}
	known := map[string]bool{}
	var errs []error
	did := false
	for _, p := range paths {
		prefix := strings.TrimSuffix(filepath.Base(p), ".run")
		known[prefix] = true
		l, err := lockRecord(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if l == nil {
			var rec runRecord
			if b, err := os.ReadFile(p); err == nil {
				_ = json.Unmarshal(b, &rec)
			}
			fmt.Fprintf(out, "run %s: running (pid %d, since %s): left alone\n", prefix, rec.Pid, rec.Started.Format(time.RFC3339))
			did = true
			continue
		}
		rec := l.record()
		gone, err := removeRun(ctx, prefix)
		fmt.Fprintf(out, "run %s (pid %d, started %s, output %s): removed %s\n", prefix, rec.Pid,
			rec.Started.Format(time.RFC3339), rec.Dir, describe(gone))
		did = true
		if err != nil {
			errs = append(errs, fmt.Errorf("run %s: %w", prefix, err))
		}
		l.release(err == nil)
	}
	// Claims interrupted between their temporary file and its link.
	tmps, _ := filepath.Glob(filepath.Join(runsDir, ".claim-*"))
	for _, p := range tmps {
		if l, err := lockRecord(p); err == nil && l != nil {
			l.release(true)
		}
	}
	others, err := scanObjects(func(name string) bool { return objectName.MatchString(name) && !known[name[:6]] })
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	prefixes := make([]string, 0, len(others))
	for p := range others {
		prefixes = append(prefixes, p)
	}
	slices.Sort(prefixes)
	for _, p := range prefixes {
		l := others[p]
		var cmds []string
		for _, ns := range l.Netns {
			cmds = append(cmds, "ip netns del "+ns)
		}
		for _, ln := range l.Links {
			cmds = append(cmds, "ip link del "+ln)
		}
		for _, g := range l.Cgroups {
			cmds = append(cmds, "rmdir "+g)
		}
		fmt.Fprintf(out, "%s: %s, named like a run's but no run recorded it: left alone (to remove by hand: %s)\n", p, l, strings.Join(cmds, "; "))
		did = true
	}
	if !did {
		fmt.Fprintln(out, "nothing to clean")
	}
	return errors.Join(errs...)
}

// describe says what removeRun removed.
func describe(l Left) string {
	if l.Empty() {
		return "nothing (already gone)"
	}
	return fmt.Sprintf("%d processes, %d namespaces, %d links, %d cgroups (%s)", len(l.Procs), len(l.Netns), len(l.Links), len(l.Cgroups), l)
}

// newRun picks a run's names, a prefix no record and no object has, and
// records the run; dir is where the run writes its output.
func newRun(dir func(Names) string) (Names, *runLock, error) {
	for range 16 {
		names := NewNames()
		left, err := Leftovers(names.Prefix)
		if err != nil {
			return names, nil, err
		}
		if !left.Empty() {
			continue
		}
		out, err := filepath.Abs(dir(names))
		if err != nil {
			return names, nil, err
		}
		l, err := claimRun(runRecord{Prefix: names.Prefix, Pid: os.Getpid(), Started: time.Now().UTC(), Dir: out})
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return names, l, err
	}
	return Names{}, nil, errors.New("testbed: no free run prefix")
}
