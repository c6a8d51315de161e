package testenv

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"
)

// StartRedis starts redis-server (Debian's, installed by `make deps`) on a
// free loopback port, in memory only, waits until it answers and returns
// its URL (redis://127.0.0.1:port).
func StartRedis(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testenv: redis-server not installed (run `make deps`): %v", err)
	}
	port := FreePort(t)
	out := &LockedBuffer{}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(port),
		"--save", "", "--appendonly", "no", "--protected-mode", "yes", "--dir", t.TempDir())
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start redis-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("redis-server output:\n%s", out.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		// PING in RESP, answered +PONG once the server accepts commands.
		if c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr); err == nil {
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 7)
			n, _ := c.Read(buf)
			c.Close()
			if string(buf[:n]) == "+PONG\r\n" {
				return "redis://" + addr
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: redis-server did not answer on %s\n%s", addr, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
