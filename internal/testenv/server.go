package testenv

import (
	"context"
	"testing"
	"time"
)

// Server is a component a test starts whole, as the standalone's Stack:
// serving once WaitReady returns, stopped by Close.
type Server interface {
	WaitReady(ctx context.Context) error
	Close(ctx context.Context) error
}

// StartServer starts a server with start, has the test's cleanup close it
// (an error closing it fails the test) and waits until it is ready, two
// minutes at most, which bounds a hang only: an error starting it or a
// server not ready fails the test.
func StartServer[S Server](t testing.TB, start func(context.Context) (S, error)) S {
	t.Helper()
	ctx := context.Background()
	s, err := start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := s.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	return s
}
