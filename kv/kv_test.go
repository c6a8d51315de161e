package kv_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/kv"
)

var (
	_ executor.KeyValue = (*kv.Redis)(nil)
	_ executor.KeyValue = (*kv.Pebble)(nil)
)

// TestStores runs the same table on a real redis-server and on Pebble:
// get, set, delete, list by prefix in order with a limit, and two
// namespaces that never see each other's keys.
func TestStores(t *testing.T) {
	stores := map[string]func(t *testing.T) executor.KeyValue{
		"redis": func(t *testing.T) executor.KeyValue {
			r, err := kv.DialRedis(testenv.StartRedis(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		},
		"pebble": func(t *testing.T) executor.KeyValue {
			p, err := kv.OpenPebble(t.TempDir(), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			return p
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			if _, ok, err := s.Get(ctx, "alice", "missing"); ok || err != nil {
				t.Fatalf("missing key: ok %v err %v", ok, err)
			}
			for _, k := range []string{"user/2", "user/1", "user/10", "userx", "other", "ключ"} {
				must(s.Set(ctx, "alice", k, []byte("a:"+k)))
			}
			must(s.Set(ctx, "bob", "user/1", []byte("b:user/1")))
			must(s.Set(ctx, "alice2", "user/9", []byte("x")))
			v, ok, err := s.Get(ctx, "alice", "user/1")
			if !ok || err != nil || string(v) != "a:user/1" {
				t.Fatalf("get: %q %v %v", v, ok, err)
			}
			if v, _, _ := s.Get(ctx, "bob", "user/1"); string(v) != "b:user/1" {
				t.Fatalf("bob's key: %q", v)
			}
			keys, err := s.List(ctx, "alice", "user/", 100)
			if err != nil || !slices.Equal(keys, []string{"user/1", "user/10", "user/2"}) {
				t.Fatalf("list user/: %q %v", keys, err)
			}
			keys, _ = s.List(ctx, "alice", "", 100)
			if !slices.Equal(keys, []string{"other", "user/1", "user/10", "user/2", "userx", "ключ"}) {
				t.Fatalf("list all: %q", keys)
			}
			if keys, _ = s.List(ctx, "alice", "", 2); !slices.Equal(keys, []string{"other", "user/1"}) {
				t.Fatalf("list with limit 2: %q", keys)
			}
			if keys, _ = s.List(ctx, "bob", "", 100); !slices.Equal(keys, []string{"user/1"}) {
				t.Fatalf("bob sees %q", keys)
			}
			must(s.Delete(ctx, "alice", "user/1"))
			must(s.Delete(ctx, "alice", "never-set"))
			if _, ok, _ := s.Get(ctx, "alice", "user/1"); ok {
				t.Fatal("deleted key still there")
			}
			if keys, _ = s.List(ctx, "alice", "user/1", 100); !slices.Equal(keys, []string{"user/10"}) {
				t.Fatalf("list after delete: %q", keys)
			}
			if _, ok, _ := s.Get(ctx, "bob", "user/1"); !ok {
				t.Fatal("deleting alice's key deleted bob's")
			}
			if err := s.Set(ctx, "", "k", nil); err == nil {
				t.Fatal("empty namespace accepted")
			}
		})
	}
}
