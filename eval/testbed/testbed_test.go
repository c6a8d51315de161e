package testbed_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faasedge/faasedge/eval/testbed"
	"github.com/faasedge/faasedge/eval/workloads"
	"github.com/faasedge/faasedge/internal/testenv"
)

var binary string

func TestMain(m *testing.M) { testenv.FaasedgeMain(m, false, &binary) }

// TestShortRun runs the hash workload (small files) and the REST one
// (a small network, its store in the testbed's Redis, which the nodes
// reach across the bridge) on three capped nodes in both placements, the
// hash workload's IPFS data cold and warm apart: every request succeeds
// and is checked, cold requests fetched their files and warm ones
// nothing, the run's directory holds the raw samples, the tables, the
// plots and the report with sane contents, and nothing the run created is
// left.
func TestShortRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	res, err := testbed.Run(ctx, testbed.Config{
		Nodes: 3, Binary: binary, OutDir: keptOnFailure(t), NodeMemoryMB: 512,
		Caps:      testbed.Caps{Rate: "50mbit", CPU: 0.5},
		Workloads: []workloads.Workload{workloads.NewHash(4<<10, 1<<20), workloads.NewREST(30, 200)},
		Requests:  6, Load: []int{1, 3}, Interval: 500 * time.Millisecond,
		Progress: &progress,
	})
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	checkNothingLeft(t, filepath.Base(res.Dir))
	if !strings.Contains(progress.String(), "phase 5/5 rest/ipfs load 3: 6/6 requests") {
		t.Errorf("progress lacks the last phase's line:\n%s", progress.String())
	}
	var names []string
	for _, ph := range res.Phases {
		names = append(names, ph.Name)
	}
	if got := strings.Join(names, " "); got != "hash/local hash/ipfs-cold hash/ipfs-warm rest/local rest/ipfs" {
		t.Fatalf("phases %s, want hash local, ipfs-cold and ipfs-warm, rest local and ipfs", got)
	}
	for _, ph := range res.Phases {
		s := ph.Summarize()
		if s.Requests != 12 || s.OK != 12 {
			for _, r := range ph.Requests {
				if !r.OK {
					t.Errorf("%s request %d: %s", ph.Name, r.I, r.Error)
				}
			}
			t.Fatalf("%s: %d of %d requests ok, want 12 of 12", ph.Name, s.OK, s.Requests)
		}
		// Execution is part of the complete latency; every run was on a
		// node, and a node's traffic is on its link.
		if !(s.ExecP50 > 0 && s.CompleteP50 >= s.ExecP50) {
			t.Errorf("%s: complete p50 %v ms, execution p50 %v ms", ph.Name, s.CompleteP50, s.ExecP50)
		}
		if s.Executing < 1 || s.CPUSeconds <= 0 || s.MemoryMB <= 0 {
			t.Errorf("%s: %d executing nodes, %v CPU s, %v MB", ph.Name, s.Executing, s.CPUSeconds, s.MemoryMB)
		}
		if s.P2P[testbed.ClassRun] <= 0 || s.VethBytes < s.P2P[testbed.ClassRun] {
			t.Errorf("%s: run bytes %v per node, link bytes %v", ph.Name, s.P2P[testbed.ClassRun], s.VethBytes)
		}
	}
	// The records time the reads of mounted data: every hash request read
	// its file (4 KiB or 1 MiB) in a fetch time within its duration, and
	// so did the REST workload's IPFS placement, which reads its data set
	// under /ipfs; its local placement reads its store through the
	// key-value import, no mount.
	for _, ph := range res.Phases {
		reads := ph.Workload == "hash" || ph.Placement != "local"
		for _, r := range ph.Requests {
			ok := r.FetchMS == nil
			if reads {
				ok = r.FetchMS != nil && *r.FetchMS > 0 && *r.FetchMS <= r.DurationMS+1 &&
					(ph.Workload != "hash" || r.FetchBytes == 4<<10 || r.FetchBytes == 1<<20)
			}
			if !ok {
				t.Errorf("%s request %d: fetch %v ms, %d bytes, duration %v ms", ph.Name, r.I, r.FetchMS, r.FetchBytes, r.DurationMS)
			}
		}
		if s := ph.Summarize(); reads != (s.FetchP50 == s.FetchP50) {
			t.Errorf("%s: fetch p50 %v ms", ph.Name, s.FetchP50)
		}
	}
	// Each cold request fetched its file over the block exchange (each
	// level's six requests read three files of 1 MiB); the warm ones
	// fetched none (a missed 1 MiB file would be 1 MiB).
	blocksIn := func(lv testbed.Level) float64 {
		in := 0.0
		for i := range lv.End.Nodes {
			in += lv.End.Nodes[i].P2P[testbed.ClassBlocks]["in"] - lv.Start.Nodes[i].P2P[testbed.ClassBlocks]["in"]
		}
		return in
	}
	for _, lv := range res.Phases[1].Levels {
		if in := blocksIn(lv); in < 3<<20 {
			t.Errorf("hash/ipfs-cold load %d: nodes fetched %v bytes, want the three 1 MiB files", lv.Load, in)
		}
	}
	for _, lv := range res.Phases[2].Levels {
		if in := blocksIn(lv); in >= 256<<10 {
			t.Errorf("hash/ipfs-warm load %d: nodes fetched %v bytes, want the files held", lv.Load, in)
		}
	}

	for _, f := range append([]string{"samples.jsonl", "requests.jsonl", "main.csv", "load.csv", "nodes.csv", "report.md"}, testbed.Plots...) {
		st, err := os.Stat(filepath.Join(res.Dir, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v (size %d)", f, err, sizeOf(st))
		}
	}
	rows := readCSV(t, filepath.Join(res.Dir, "main.csv"))
	if len(rows) != 6 || strings.Join(rows[0], ",") != strings.Join(testbed.MainHeader, ",") ||
		rows[1][0] != "hash" || rows[1][1] != "local" || rows[1][2] != "3" || rows[1][3] != "50mbit" || rows[1][8] != "1.00" {
		t.Errorf("main.csv:\n%v", rows)
	}
	if n := len(readCSV(t, filepath.Join(res.Dir, "nodes.csv"))); n != 1+5*3 {
		t.Errorf("nodes.csv has %d rows, want a header and 3 nodes x 5 phases", n)
	}
	// Latencies by kind: each hash file size and REST operation apart.
	kinds := map[string]string{}
	for _, row := range readCSV(t, filepath.Join(res.Dir, "kinds.csv"))[1:] {
		kinds[row[0]+"/"+row[1]+"/"+row[2]] = row[3] + " " + row[4]
	}
	for _, want := range []string{"hash/local/4KiB", "hash/ipfs-cold/1MiB", "hash/ipfs-warm/1MiB", "rest/ipfs/home_timeline", "rest/local/compose"} {
		if _, ok := kinds[want]; !ok {
			t.Errorf("kinds.csv lacks %s: %v", want, kinds)
		}
	}
	if kinds["hash/ipfs-warm/4KiB"] != "6 6" {
		t.Errorf("kinds.csv: hash/ipfs-warm/4KiB: %q requests and ok, want 6 6", kinds["hash/ipfs-warm/4KiB"])
	}
	// Every sample is one JSON record; every node and the gateway have
	// samples of each phase.
	seen := map[string]bool{}
	f, err := os.Open(filepath.Join(res.Dir, "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s testbed.Sample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("sample %q: %v", sc.Text(), err)
		}
		seen[fmt.Sprintf("%d %s", s.Node, s.Metric)] = true
		seen[fmt.Sprintf("%d %s %v", s.Node, s.Metric, s.Value)] = true
	}
	for _, want := range []string{"0 metrics_scraped 1", "1 metrics_scraped 1", "2 metrics_scraped 1", "0 cpu_seconds", "2 veth_rx_bytes", "1 p2p_bytes", "2 memory_usage_bytes", "-1 schedulings"} {
		if !seen[want] {
			t.Errorf("no %q sample", want)
		}
	}
	report, _ := os.ReadFile(filepath.Join(res.Dir, "report.md"))
	for _, want := range []string{"N = 3", "**50mbit**", "**0.50 cores**", "| hash | local | 12 | 100% |", "| hash | ipfs-cold | 12 | 100% |", "| hash | ipfs-warm | 12 | 100% |", "## Latency by request kind", "no added latency", "| fetch p50 ms |"} {
		if !bytes.Contains(report, []byte(want)) {
			t.Errorf("report.md lacks %q:\n%s", want, report)
		}
	}
	if bytes.Contains(report, []byte("Data-fetch time is not separated")) {
		t.Errorf("report.md says fetch time is not measured:\n%s", report)
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return 0
	}
	return st.Size()
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// checkNothingLeft checks that no namespace, link or cgroup named with
// the run's prefix (the directory's suffix) is left, and no process runs
// from the run's directory.
func checkNothingLeft(t *testing.T, dir string) {
	t.Helper()
	prefix := dir[strings.LastIndex(dir, "-")+1:]
	left, err := testbed.Leftovers(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !left.Empty() {
		t.Errorf("left after the run: %v", left)
	}
	out, _ := exec.Command("pgrep", "-f", prefix).Output()
	if len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("processes of the run still running: %s", out)
	}
}

// keptOnFailure is a directory for a run's output, removed unless the
// test fails: the logs of a failed run are there.
func keptOnFailure(t *testing.T) string {
	dir, err := os.MkdirTemp("", "testbed-"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("run output kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// TestNodeKilledMidRun kills a node in the middle of a phase: the run
// goes on (the gateway runs the activations on the nodes left), and the
// teardown still removes every namespace, link and cgroup and leaves no
// process.
func TestNodeKilledMidRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var once sync.Once
	var killed *testbed.Node
	res, err := testbed.Run(ctx, testbed.Config{
		Nodes: 3, Binary: binary, OutDir: keptOnFailure(t), NodeMemoryMB: 512,
		Workloads:  []workloads.Workload{workloads.NewHash(4 << 10)},
		Placements: []workloads.Placement{workloads.Local},
		Requests:   6, Load: []int{2}, Interval: 500 * time.Millisecond,
		OnRequest: func(tb *testbed.Testbed, _ string, i int) {
			if i == 3 {
				once.Do(func() {
					killed = tb.Nodes()[1]
					killed.Kill()
				})
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if killed == nil || !killed.Exited() {
		t.Fatal("no node was killed")
	}
	if s := res.Phases[0].Summarize(); s.Requests != 6 {
		t.Errorf("%d requests sent, want 6", s.Requests)
	}
	checkNothingLeft(t, filepath.Base(res.Dir))
	if err := exec.Command("kill", "-0", fmt.Sprint(killed.Pid())).Run(); err == nil {
		t.Errorf("the killed node's process %d still exists", killed.Pid())
	}
}

// startEval starts `faasedge eval` with args and waits until its progress
// shows line; done receives the end of the process.
func startEval(t *testing.T, line string, args ...string) (cmd *exec.Cmd, done chan error) {
	t.Helper()
	cmd = exec.Command(binary, append([]string{"eval"}, args...)...)
	var stdout, stderr testenv.LockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(5 * time.Minute)
	for !strings.Contains(stdout.String(), line) {
		select {
		case err := <-done:
			t.Fatalf("eval ended before %q: %v\n%s\n%s", line, err, stdout.String(), stderr.String())
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("no progress:\n%s\n%s", stdout.String(), stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return cmd, done
}

// TestInterruptCleansUp runs `faasedge eval` and interrupts it (SIGINT,
// as Ctrl-C) in its first phase: it exits cleanly, having removed every
// namespace, link and cgroup of the run and stopped its processes, and
// the run's directory has the report of what was measured.
func TestInterruptCleansUp(t *testing.T) {
	out := keptOnFailure(t)
	cmd, done := startEval(t, "hash/local load 1: 200/1000", "--nodes", "2", "--node-memory", "512", "--workloads", "hash", "--hash-sizes", "4k",
		"--requests", "1000", "--load", "1", "--interval", "500ms", "--out", out)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("eval after the interrupt: %v\n%s", err, cmd.Stderr)
		}
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("eval did not stop after the interrupt:\n%s", cmd.Stderr)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*-fe*"))
	if len(dirs) != 1 {
		t.Fatalf("run directories %v", dirs)
	}
	checkNothingLeft(t, filepath.Base(dirs[0]))
	if _, err := os.Stat(filepath.Join(dirs[0], "report.md")); err != nil {
		t.Errorf("no report after the interrupt: %v", err)
	}
}

// TestCleanAfterKill SIGKILLs `faasedge eval` in its first phase, as
// kill -9 or the OOM killer would: nothing tears down, and its
// namespaces, links and cgroups are left, with two processes that
// outlive it (one in a node's namespace, one in a group). `faasedge eval
// --clean` kills them, removes everything the run made and its record,
// and says so; a second clean finds nothing of the run.
func TestCleanAfterKill(t *testing.T) {
	out := keptOnFailure(t)
	cmd, done := startEval(t, "hash/local load 1: 10/50", "--nodes", "2", "--node-memory", "512", "--workloads", "hash", "--hash-sizes", "4k",
		"--placements", "local", "--requests", "50", "--load", "1", "--interval", "500ms", "--out", out)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-done
	dirs, _ := filepath.Glob(filepath.Join(out, "*-fe*"))
	if len(dirs) != 1 {
		t.Fatalf("run directories %v", dirs)
	}
	prefix := dirs[0][strings.LastIndex(dirs[0], "-")+1:]
	left, err := testbed.Leftovers(prefix)
	if err != nil {
		t.Fatal(err)
	}
	// Two namespaces; the bridge and the two veth ends on it; the nodes'
	// and Redis's groups in the cpu, cpuacct and memory hierarchies.
	if len(left.Netns) != 2 || len(left.Links) != 3 || len(left.Cgroups) != 9 {
		t.Fatalf("left by the killed run: %v; want 2 namespaces, 3 links, 9 cgroups", left)
	}
	t.Cleanup(func() {
		// Should the clean fail, the machine is left as it was found.
		if left, _ := testbed.Leftovers(prefix); !left.Empty() {
			_ = exec.Command(binary, "eval", "--clean").Run()
		}
	})
	var group string
	for _, g := range left.Cgroups {
		if strings.HasSuffix(g, "/"+prefix+"redis") {
			group = g
		}
	}
	survivors := []*exec.Cmd{
		exec.Command("ip", "netns", "exec", prefix+"n0", "sleep", "600"),
		exec.Command("sh", "-c", "echo $$ > "+filepath.Join(group, "cgroup.procs")+" && exec sleep 600"),
	}
	exited := make(chan error, len(survivors))
	for _, s := range survivors {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { exited <- s.Wait() }()
	}
	testenv.WaitFor(t, time.Minute, "the survivors in the run's namespace and group", func() bool {
		left, err := testbed.Leftovers(prefix)
		return err == nil && slices.Contains(left.Procs, survivors[0].Process.Pid) && slices.Contains(left.Procs, survivors[1].Process.Pid)
	})

	report, err := exec.Command(binary, "eval", "--clean").CombinedOutput()
	if err != nil {
		t.Fatalf("eval --clean: %v\n%s", err, report)
	}
	t.Logf("eval --clean:\n%s", report)
	if !bytes.Contains(report, []byte("run "+prefix+" (pid ")) || !bytes.Contains(report, []byte("2 namespaces, 3 links, 9 cgroups")) {
		t.Errorf("the clean's report does not name what it removed of run %s", prefix)
	}
	for range survivors {
		select {
		case err := <-exited:
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
				t.Errorf("a survivor ended with %v, want killed", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("a survivor still runs after the clean")
		}
	}
	checkNothingLeft(t, filepath.Base(dirs[0]))
	if _, err := os.Stat(filepath.Join("/run/faasedge-eval", prefix+".run")); !os.IsNotExist(err) {
		t.Errorf("the run's record after the clean: %v", err)
	}
	again, err := exec.Command(binary, "eval", "--clean").CombinedOutput()
	if err != nil || bytes.Contains(again, []byte(prefix)) {
		t.Errorf("a second clean: %v\n%s", err, again)
	}
}

// TestNotRootStopsCleanly runs `faasedge eval` and `faasedge eval
// --clean` as an unprivileged user: each says root is needed, fails, and
// creates nothing.
func TestNotRootStopsCleanly(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	// A run, and a clean, which kills processes and deletes what runs made.
	for _, args := range [][]string{{"eval", "--out", out}, {"eval", "--clean"}} {
		cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", binary}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "need root") {
			t.Fatalf("%v: %v: %s; want exit 1 saying root is needed", args, err, stderr.String())
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output directory made without root: %v", err)
	}
}
