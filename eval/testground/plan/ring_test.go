package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/testground/sdk-go/ptypes"
	"github.com/testground/sdk-go/runtime"
	tgsync "github.com/testground/sdk-go/sync"
	syncsvc "github.com/testground/sync-service"
	"go.uber.org/zap"

	"github.com/faasedge/faasedge/eval/testground"
)

func ringCaseOf(t *testing.T) testground.Testcase {
	t.Helper()
	var m testground.Manifest
	if err := testground.Load("../manifest.toml", &m); err != nil {
		t.Fatal(err)
	}
	tc, ok := m.Case("ring")
	if !ok {
		t.Fatal("manifest has no ring case")
	}
	return tc
}

// TestCompositionsParse reads every ring composition's groups with the
// parameters Testground would hand their instances and checks the plan
// accepts them, with one scheduler group.
func TestCompositionsParse(t *testing.T) {
	tc := ringCaseOf(t)
	files, err := filepath.Glob("../compositions/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no compositions: %v", err)
	}
	for _, f := range files {
		var c testground.Composition
		if err := testground.Load(f, &c); err != nil {
			t.Fatal(err)
		}
		if c.Global.Case != "ring" {
			continue
		}
		roles := map[string]int{}
		for _, g := range c.Groups {
			p, err := parseParams(c.Params(tc, g))
			if err != nil {
				t.Fatalf("%s group %s: %v", f, g.ID, err)
			}
			roles[p.role]++
		}
		if roles[roleScheduler] != 1 || roles[roleSupplier] == 0 {
			t.Fatalf("%s: groups by role %v, want one scheduler group and suppliers", f, roles)
		}
	}
	bad := tc.Defaults()
	bad["levels"] = "0.9,0.5"
	bad["bandwidth"] = "fast"
	if _, err := parseParams(bad); err == nil {
		t.Fatal("unsorted levels and a bandwidth without unit accepted")
	}
}

// TestRingCaseLocally runs the ring case the way Testground's local:exec
// runner does: the plan binary once per instance, each process told its
// run, group and parameters by the runner's environment variables, all
// meeting at Testground's own sync service (started here) and each a real
// ring node (libp2p host with the DHT on loopback). Two schedulers fill the
// ring to two levels and measure there while a churner leaves and rejoins;
// every instance must record success, and the schedulers' samples must
// cover every level with requests placed.
func TestRingCaseLocally(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "plan")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build the plan: %v\n%s", err, out)
	}
	svc, err := syncsvc.NewDefaultService(ctx, zap.NewNop().Sugar())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := syncsvc.NewServer(svc, 0)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Shutdown(context.Background())

	tc := ringCaseOf(t)
	global := map[string]string{
		"levels": "0.5,0.8", "measure": "20", "rate": "100", "refresh": "2s",
		"requests": "128:2,256:1", "node_memory": "1024:1",
	}
	groups := []struct {
		id     string
		count  int
		params map[string]string
	}{
		{"schedulers", 2, map[string]string{"role": "scheduler"}},
		{"suppliers", 4, map[string]string{"role": "supplier"}},
		// Rejoins every refresh period.
		{"churners", 1, map[string]string{"role": "churner", "churn": "1"}},
	}
	total := 0
	for _, g := range groups {
		total += g.count
	}
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	var cmds []*exec.Cmd
	var outs, schedOuts []string
	for _, g := range groups {
		for j := range g.count {
			params := tc.Defaults()
			maps.Copy(params, global)
			maps.Copy(params, g.params)
			out := filepath.Join(dir, fmt.Sprintf("%s-%d", g.id, j))
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			rp := runtime.RunParams{
				TestPlan: "faasedge", TestCase: "ring", TestRun: "local",
				TestInstanceCount: total, TestGroupID: g.id, TestGroupInstanceCount: g.count,
				TestInstanceParams: params, TestOutputsPath: out,
				TestSubnet: &ptypes.IPNet{IPNet: *loopback}, TestStartTime: time.Now(),
			}
			cmd := exec.CommandContext(ctx, bin)
			cmd.Env = append(os.Environ(), tgsync.EnvServiceHost+"=127.0.0.1", fmt.Sprintf("%s=%d", tgsync.EnvServicePort, srv.Port()))
			for k, v := range rp.ToEnvVars() {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			log, err := os.Create(filepath.Join(out, "process.log"))
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			cmd.Stdout, cmd.Stderr = log, log
			cmds = append(cmds, cmd)
			outs = append(outs, out)
			if g.id == "schedulers" {
				schedOuts = append(schedOuts, out)
			}
		}
	}
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("instance %s: %v", outs[i], err)
		}
	}
	// The SDK records a test case's outcome as an event in run.out.
	for _, out := range outs {
		data, err := os.ReadFile(filepath.Join(out, "run.out"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), `"success_event"`) {
			t.Fatalf("%s did not succeed:\n%s", out, data)
		}
	}
	for _, dir := range schedOuts {
		f, err := os.Open(filepath.Join(dir, "samples.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		steady := map[float64]int{}
		placed := map[float64]int{}
		ramp := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var s sample
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			if s.OK && (s.Tries < 1 && !s.FromBackup || s.DeploymentMS <= 0) {
				t.Fatalf("placed request without lookups or time: %s", sc.Text())
			}
			switch s.Phase {
			case "ramp":
				ramp++
			case "steady":
				steady[s.Level]++
				if s.OK {
					placed[s.Level]++
				}
			}
		}
		f.Close()
		t.Logf("%s: %d ramp requests, steady %v, placed %v", dir, ramp, steady, placed)
		for _, level := range []float64{0.5, 0.8} {
			// 20 measured requests over two schedulers.
			if steady[level] != 10 {
				t.Fatalf("level %.1f: %d steady samples, want 10", level, steady[level])
			}
			if placed[level] < 5 {
				t.Fatalf("level %.1f: %d of 10 requests placed", level, placed[level])
			}
		}
		if ramp == 0 {
			t.Fatal("no ramp samples")
		}
	}
}
