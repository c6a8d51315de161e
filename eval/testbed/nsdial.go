package testbed

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// dialInNetns connects to addr from inside the named network namespace:
// the socket is made there and stays there, so that the testbed reads a
// node's metrics on the namespace's loopback and never adds to the
// node's veth counters. The calling goroutine's OS thread enters the
// namespace only for the socket's creation.
func dialInNetns(ctx context.Context, netns, network, addr string) (net.Conn, error) {
	target, err := os.Open(filepath.Join("/run/netns", netns))
	if err != nil {
		return nil, fmt.Errorf("testbed: netns %s: %w", netns, err)
	}
	defer target.Close()
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	// A fresh goroutine, so a thread that cannot get back to the root
	// namespace is never returned to the scheduler (it exits locked).
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, err}
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, fmt.Errorf("testbed: setns %s: %w", netns, err)}
			return
		}
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}
