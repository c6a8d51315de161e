package testbed

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The cgroup v1 controllers a node's group is made in: cpu for the
// quota, cpuacct for the CPU time used, memory for what it occupies.
var controllers = []string{"cpu", "cpuacct", "memory"}

// ownCgroups maps each controller to the directory of this process's
// group in its v1 hierarchy, from /proc/self/cgroup and the mount points
// in /proc/self/mountinfo.
func ownCgroups() (map[string]string, error) {
	own := map[string]string{} // controller → path in its hierarchy
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("testbed: cgroups: %w", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			own[c] = f[2]
		}
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range mounts {
		if p, ok := own[m.controller]; ok {
			out[m.controller] = filepath.Join(m.point, strings.TrimPrefix(p, m.root))
		}
	}
	for _, c := range controllers {
		if out[c] == "" {
			return nil, fmt.Errorf("testbed: no cgroup v1 %s hierarchy mounted (the testbed uses cgroup v1's cpu, cpuacct and memory controllers)", c)
		}
	}
	return out, nil
}

// cgroupMount is where one of the testbed's controllers' v1 hierarchy is
// mounted: point shows the hierarchy's directory root.
type cgroupMount struct {
	controller, root, point string
}

// cgroupMounts lists the mounts of the v1 hierarchies of the testbed's
// controllers, from /proc/self/mountinfo.
func cgroupMounts() ([]cgroupMount, error) {
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("testbed: cgroups: %w", err)
	}
	defer mi.Close()
	var out []cgroupMount
	sc := bufio.NewScanner(mi)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts... - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || qf[0] != "cgroup" {
			continue
		}
		for _, opt := range strings.Split(qf[2], ",") {
			if slices.Contains(controllers, opt) {
				out = append(out, cgroupMount{controller: opt, root: pf[3], point: pf[4]})
			}
		}
	}
	return out, sc.Err()
}

// cgroup is one node's group, a directory in each hierarchy.
type cgroup struct {
	dirs map[string]string // controller → directory
}

// newCgroup makes the group name below this process's own, with a CPU
// quota of cpu cores when cpu > 0.
func newCgroup(name string, cpu float64) (*cgroup, error) {
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	g := &cgroup{dirs: map[string]string{}}
	for _, c := range controllers {
		d := filepath.Join(own[c], name)
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return g, fmt.Errorf("testbed: cgroup: %w", err)
		}
		g.dirs[c] = d
	}
	if cpu > 0 {
		period := 100000
		quota := strconv.Itoa(int(cpu * float64(period)))
		if err := os.WriteFile(filepath.Join(g.dirs["cpu"], "cpu.cfs_period_us"), []byte(strconv.Itoa(period)), 0); err != nil {
			return g, fmt.Errorf("testbed: cgroup cpu period: %w", err)
		}
		if err := os.WriteFile(filepath.Join(g.dirs["cpu"], "cpu.cfs_quota_us"), []byte(quota), 0); err != nil {
			return g, fmt.Errorf("testbed: cgroup cpu quota: %w", err)
		}
	}
	return g, nil
}

// procsFiles are the cgroup.procs files a process writes its pid to, to
// join the group (once per hierarchy).
func (g *cgroup) procsFiles() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range controllers {
		if d := g.dirs[c]; !seen[d] {
			seen[d] = true
			out = append(out, filepath.Join(d, "cgroup.procs"))
		}
	}
	return out
}

// command runs name in the group from its first instruction: a shell
// joins the group (a namespace's view of /sys hides the host's cgroups)
// and then becomes name.
func (g *cgroup) command(name string, args ...string) *exec.Cmd {
	var join strings.Builder
	for _, f := range g.procsFiles() {
		fmt.Fprintf(&join, "echo $$ > '%s' && ", f)
	}
	return exec.Command("sh", append([]string{"-c", join.String() + `exec "$@"`, "sh", name}, args...)...)
}

// CPUSeconds is the CPU time the group's processes used (cpuacct.usage).
func (g *cgroup) CPUSeconds() (float64, error) {
	v, err := readUint(filepath.Join(g.dirs["cpuacct"], "cpuacct.usage"))
	return float64(v) / 1e9, err
}

// Memory is what the group occupies: memory.usage_in_bytes (page cache
// included) and the resident set (memory.stat's total_rss).
func (g *cgroup) Memory() (usage, rss uint64, err error) {
	if usage, err = readUint(filepath.Join(g.dirs["memory"], "memory.usage_in_bytes")); err != nil {
		return 0, 0, err
	}
	b, err := os.ReadFile(filepath.Join(g.dirs["memory"], "memory.stat"))
	if err != nil {
		return usage, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "total_rss "); ok {
			rss, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return usage, rss, err
		}
	}
	return usage, 0, nil
}

// Throttled is how long the quota held the group back (cpu.stat).
func (g *cgroup) Throttled() (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(g.dirs["cpu"], "cpu.stat"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "throttled_time "); ok {
			ns, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Duration(ns), err
		}
	}
	return 0, nil
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// removeCgroups removes every group named with prefix, in every
// hierarchy, waiting a little for the kernel to let go of processes that
// just exited.
func removeCgroups(prefix string) error {
	groups, err := cgroupsNamed(func(name string) bool { return strings.HasPrefix(name, prefix) })
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range groups {
		var err error
		for range 50 {
			if err = os.Remove(g); err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("testbed: remove cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}
