package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

// memMB reads a process's resident set size and the anonymous part of it
// (heap and stacks, without the clean pages of the binary) in MB.
func memMB(b *testing.B, pid int) (rss, anon float64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Fatal(err)
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

// cpuTime is the CPU time (user and system, all threads) a process has
// used: getrusage's figure for a process that is not our child to wait for,
// read from /proc/<pid>/stat in USER_HZ ticks (100 a second on Linux).
func cpuTime(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	_, rest, ok := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		b.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// BenchmarkBinary runs the faasedge invoker process under the emulated
// controller: its RSS when idle after registration, the activations per
// second it sustains for b.N non-blocking trivial wasm activations
// published at once, the CPU time the invoker process spends per
// activation over that run, and its RSS after that load. The anon figures leave
// out the clean, shared pages of the binary (which links every subcommand).
func BenchmarkBinary(b *testing.B) {
	s := newStack(b)
	p := s.startInvoker(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	time.Sleep(2 * time.Second) // settle after registration
	idle, idleAnon := memMB(b, p.cmd.Process.Pid)

	l := whisk.DefaultLimits()
	l.Memory, l.Logs = 128, 0
	code := wasmtest.WATModule(b, "reactor")
	doc := map[string]any{
		"_id": "guest/reactor", "entityType": "action", "name": "reactor", "namespace": "guest", "version": "0.0.1",
		"exec":   map[string]any{"kind": "wasm:wasip1", "binary": true, "code": map[string]any{"attachmentName": whisk.EncodeMemAttachment(code), "attachmentType": "application/wasm"}},
		"limits": l, "parameters": []any{}, "annotations": []any{}, "publish": false, "updated": time.Now().UnixMilli(),
	}
	rev, err := s.actions.Put(ctx, "guest/reactor", doc)
	if err != nil {
		b.Fatal(err)
	}
	m := emulator.ActionMeta{Name: whisk.FullyQualifiedEntityName{Path: "guest", Name: "reactor", Version: "0.0.1"}, Rev: &rev, MemoryMB: 128, TimeoutMs: 60000}
	user := emulator.NewUser("guest")
	warm, _, err := s.ctl.Invoke(ctx, m, emulator.Request{User: user, Blocking: true})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.ctl.WaitCompleted(ctx, warm.ActivationID); err != nil {
		b.Fatal(err)
	}
	n := max(b.N, 500)
	msgs := make([]*whisk.ActivationMessage, n)
	for i := range msgs {
		msgs[i] = s.ctl.Message(m, emulator.Request{User: user, Content: json.RawMessage(`{"i":` + strconv.Itoa(i) + `}`)})
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b, p.cmd.Process.Pid)
	if err := s.ctl.SendAll(ctx, 0, msgs); err != nil {
		b.Fatal(err)
	}
	for _, msg := range msgs {
		if _, err := s.ctl.WaitCompleted(ctx, msg.ActivationID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "act/s")
	b.ReportMetric(float64((cpuTime(b, p.cmd.Process.Pid)-cpu0).Microseconds())/float64(n), "cpu-µs/act")
	b.StopTimer()
	loaded, loadedAnon := memMB(b, p.cmd.Process.Pid)
	b.ReportMetric(idle, "idle-RSS-MB")
	b.ReportMetric(idleAnon, "idle-anon-MB")
	b.ReportMetric(loaded, "loaded-RSS-MB")
	b.ReportMetric(loadedAnon, "loaded-anon-MB")
}
