package testbed

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCleanTouchesOnlyEndedRuns makes three sets of objects named like a
// run's: those of a run that ended without tearing down (its record
// unlocked), of a live run (its record locked) and of no recorded run.
// Clean removes the first, with its record, lists the two others and
// leaves them; a second Clean finds nothing of the first.
func TestCleanTouchesOnlyEndedRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := func(Names) string { return t.TempDir() }
	live, liveLock, err := newRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	ended, endedLock, err := newRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	other := NewNames()
	t.Cleanup(func() {
		liveLock.release(true)
		for _, n := range []Names{live, ended, other} {
			if _, err := removeRun(context.Background(), n.Prefix); err != nil {
				t.Error(err)
			}
		}
		_ = os.Remove(recordPath(ended.Prefix))
	})
	for _, n := range []Names{live, ended, other} {
		if err := ipCmd(ctx, "ip", "netns", "add", n.Netns(0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ipCmd(ctx, "ip", "link", "add", ended.Bridge(), "type", "bridge"); err != nil {
		t.Fatal(err)
	}
	if _, err := newCgroup(ended.Netns(0), 0.5); err != nil {
		t.Fatal(err)
	}
	// As when its process dies: the kernel drops the lock, the record stays.
	endedLock.release(false)
	// What a new run names in its progress line: the ended run, not the live one.
	if gone := endedRuns(); !slices.Contains(gone, ended.Prefix) || slices.Contains(gone, live.Prefix) {
		t.Errorf("ended runs %v, want %s and not %s", gone, ended.Prefix, live.Prefix)
	}

	var out bytes.Buffer
	if err := Clean(ctx, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("clean:\n%s", out.String())
	if left, err := Leftovers(ended.Prefix); err != nil || !left.Empty() {
		t.Errorf("the ended run's objects after Clean: %v %v", left, err)
	}
	if _, err := os.Stat(recordPath(ended.Prefix)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the ended run's record after Clean: %v", err)
	}
	for _, n := range []Names{live, other} {
		if left, err := Leftovers(n.Prefix); err != nil || len(left.Netns) != 1 {
			t.Errorf("%s after Clean: %v %v, want its namespace left alone", n.Prefix, left, err)
		}
	}
	for _, want := range []string{
		"run " + ended.Prefix + " (pid ", "removed 0 processes, 1 namespaces, 1 links, 3 cgroups",
		"run " + live.Prefix + ": running (pid ",
		other.Prefix + ": namespaces [" + other.Netns(0) + "]", "no run recorded it: left alone (to remove by hand: ip netns del " + other.Netns(0) + ")",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Clean's report lacks %q", want)
		}
	}
	out.Reset()
	if err := Clean(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), ended.Prefix) {
		t.Errorf("a second Clean reports the ended run again:\n%s", out.String())
	}
}
