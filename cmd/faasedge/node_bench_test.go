package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/whisk"
)

// BenchmarkNodeBinary runs `faasedge node`, built as make release builds it, against a
// scheduler that holds a module: the binary's size, the node's RSS and
// anonymous memory when idle with its offers published and nothing claimed
// (the largest of samples over a trim period), and after b.N activations
// (at least 200) of the module claimed on it and run by CID.
func BenchmarkNodeBinary(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "faasedge")
	if out, err := testenv.ReleaseBuild(bin, "."); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sched := startScheduler(ctx, b)
	var out testenv.LockedBuffer
	cmd := exec.Command(bin, "node", "--listen", "/ip4/127.0.0.1/tcp/0", "--peer", sched.addr,
		"--data-dir", b.TempDir(), "--memory", "512", "--vnodes", "2")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if b.Failed() {
			b.Logf("node output:\n%s", out.String())
		}
	}()
	// A claim without code sees the offers up and leaves the node at rest:
	// one with a CID would have it fetch and compile the module.
	var p ring.Placement
	testenv.WaitFor(b, 2*time.Minute, "an offer from the node", func() bool {
		p, err = sched.Schedule(ctx, "", 128)
		return err == nil
	})
	if err := sched.Release(ctx, p); err != nil {
		b.Fatal(err)
	}
	idle, idleAnon := testenv.IdleMemory(b, cmd.Process.Pid)

	testenv.WaitFor(b, 2*time.Minute, "the node's offer back", func() bool {
		p, err = sched.Schedule(ctx, sched.module, 128)
		return err == nil
	})
	b.ResetTimer()
	for range max(b.N, 200) {
		resp, err := sched.Run(ctx, p, echoWorld)
		if err != nil {
			b.Fatal(err)
		}
		if resp.Response.StatusCode != whisk.StatusSuccess {
			b.Fatalf("status %d result %s", resp.Response.StatusCode, resp.Response.Result)
		}
	}
	b.StopTimer()
	if err := sched.Release(ctx, p); err != nil {
		b.Fatal(err)
	}
	loaded, loadedAnon := testenv.Memory(b, cmd.Process.Pid)
	b.ReportMetric(float64(fi.Size())/(1<<20), "binary-MB")
	b.ReportMetric(idle, "idle-RSS-MB")
	b.ReportMetric(idleAnon, "idle-anon-MB")
	b.ReportMetric(loaded, "loaded-RSS-MB")
	b.ReportMetric(loadedAnon, "loaded-anon-MB")
}
