package testbed

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVethCountsKnownBytes sends a known number of bytes from inside a
// node's namespace to the bridge and back: the bridge end's counters
// (rx: from the node, tx: to it) grow by at least them and by no more
// than the frames' headers and the TCP handshake and acks can add. The
// caps are installed as asked, and nothing is left after the teardown.
func TestVethCountsKnownBytes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	names := NewNames()
	defer func() {
		if err := teardownNet(context.Background(), names); err != nil {
			t.Error(err)
		}
		if left, err := Leftovers(names.Prefix); err != nil || !left.Empty() {
			t.Errorf("left: %v %v", left, err)
		}
	}()
	tn, err := setUpNet(ctx, names, 1, Caps{Rate: "200mbit"})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct{ args []string }{
		{[]string{"qdisc", "show", "dev", names.Veth(0)}},
		{[]string{"-n", names.Netns(0), "class", "show", "dev", "eth0"}},
	} {
		out, err := exec.Command("tc", q.args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "rate 200Mbit") {
			t.Errorf("tc %v: %s %v, want a 200Mbit cap", q.args, out, err)
		}
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(tn.BridgeIP().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const up, down = 3_000_000, 1_000_000
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		if n, err := io.CopyN(io.Discard, c, up); err != nil || n != up {
			served <- fmt.Errorf("read %d: %v", n, err)
			return
		}
		_, err = c.Write(make([]byte, down))
		served <- err
	}()
	rx0, tx0 := vethCounters(t, names.Veth(0))
	c, err := dialInNetns(ctx, names.Netns(0), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, up)); err != nil {
		t.Fatal(err)
	}
	if n, err := io.CopyN(io.Discard, c, down); err != nil || n != down {
		t.Fatalf("read %d: %v", n, err)
	}
	c.Close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	rx1, tx1 := vethCounters(t, names.Veth(0))
	// Frames carry at most 1448 payload bytes each on this MTU with
	// timestamps: headers add under 10%, and acks in the other direction
	// (one per two frames at least) under 5% of the bytes acknowledged.
	check := func(what string, got, payload, acked uint64) {
		lo, hi := payload, payload+payload/10+acked/20+64<<10
		if got < lo || got > hi {
			t.Errorf("%s: %d bytes on the veth for %d payload bytes, want %d..%d", what, got, payload, lo, hi)
		}
	}
	check("from the node (rx)", rx1-rx0, up, down)
	check("to the node (tx)", tx1-tx0, down, up)
}

func vethCounters(t *testing.T, veth string) (rx, tx uint64) {
	t.Helper()
	var err error
	if rx, err = readUint(filepath.Join("/sys/class/net", veth, "statistics", "rx_bytes")); err != nil {
		t.Fatal(err)
	}
	if tx, err = readUint(filepath.Join("/sys/class/net", veth, "statistics", "tx_bytes")); err != nil {
		t.Fatal(err)
	}
	return rx, tx
}

// TestCgroupCountsKnownCPU runs a busy process in a node's cgroup with a
// quota: the group's cpuacct time covers the CPU time the kernel charged
// the process itself (its rusage), and the quota is written as asked.
func TestCgroupCountsKnownCPU(t *testing.T) {
	names := NewNames()
	g, err := newCgroup(names.Netns(0), 0.25)
	defer func() {
		if err := removeCgroups(names.Prefix); err != nil {
			t.Error(err)
		}
		if left, _ := Leftovers(names.Prefix); !left.Empty() {
			t.Errorf("left: %v", left)
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	if q, err := readUint(filepath.Join(g.dirs["cpu"], "cpu.cfs_quota_us")); err != nil || q != 25000 {
		t.Fatalf("quota %d %v, want 25000 of a 100000 µs period", q, err)
	}
	var join strings.Builder
	for _, f := range g.procsFiles() {
		fmt.Fprintf(&join, "echo $$ > '%s' && ", f)
	}
	// The process stays in the group (as sleep) while its memory is read:
	// a group whose last process has exited may be charged nothing.
	cmd := exec.Command("sh", "-c", join.String()+`i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo busy-done; exec sleep 60`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "busy-done\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("busy loop: %q %v", line, err)
	}
	usage, _, memErr := g.Memory()
	got, cpuErr := g.CPUSeconds()
	cmd.Process.Kill()
	cmd.Wait()
	if memErr != nil || usage == 0 {
		t.Errorf("memory usage %d: %v", usage, memErr)
	}
	if cpuErr != nil {
		t.Fatal(cpuErr)
	}
	own := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	if own <= 0 || got < 0.9*own {
		t.Errorf("cgroup counted %.3f CPU s, the process used %.3f", got, own)
	}
}

func TestClassify(t *testing.T) {
	for proto, want := range map[string]string{
		"/faasedge/kad/1.0.0":        ClassDHT,
		"/faasedge/ring/offer/1.0.0": ClassRing,
		"/faasedge/ring/claim/1.0.0": ClassRing,
		"/faasedge/run/1.0.0":        ClassRun,
		"/ipfs/bitswap/1.2.0":        ClassBlocks,
		"/ipfs/id/1.0.0":             ClassControl,
		"":                           ClassControl,
		"/faasedge/fm/deploy/1.0.0":  ClassControl,
	} {
		if got := Classify(proto); got != want {
			t.Errorf("Classify(%q) = %s, want %s", proto, got, want)
		}
	}
}
