package invoker

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
)

// blacklist is NamespaceBlacklist: the namespaces blocked or throttled to
// zero, read from the subjects database's
// namespaceThrottlings/blockedNamespaces view every poll interval. A
// refresh that fails keeps the last list, so a subjects database that is
// missing or down never stops the invoker.
type blacklist struct {
	db  *kivik.DB // nil: no subjects database configured, nothing blocked
	log *slog.Logger
	m   *metrics

	set atomic.Pointer[map[string]struct{}]
}

func (b *blacklist) blocked(namespace string) bool {
	set := b.set.Load()
	if set == nil {
		return false
	}
	_, ok := (*set)[namespace]
	return ok
}

// refreshTimeout bounds one read of the view.
const refreshTimeout = 30 * time.Second

// run refreshes at once and then every interval until ctx ends; like the
// stock scheduler, the next wait starts when a refresh ends.
func (b *blacklist) run(ctx context.Context, interval time.Duration) {
	if b.db == nil {
		return
	}
	for {
		// A database that hangs must not stall the refreshes for good.
		rctx, cancel := context.WithTimeout(ctx, refreshTimeout)
		err := b.refresh(rctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			b.m.blacklistErrors.Inc()
			b.log.Warn("updating the namespace blacklist failed, keeping the last one", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// refresh is refreshBlacklist: the view's keys, read without waiting for
// the index (stale=update_after), are the blocked namespace names.
func (b *blacklist) refresh(ctx context.Context) error {
	rs := b.db.Query(ctx, "_design/namespaceThrottlings", "_view/blockedNamespaces", kivik.Params(map[string]any{
		"stale": "update_after", "descending": true, "reduce": false,
	}))
	defer rs.Close()
	set := map[string]struct{}{}
	for rs.Next() {
		var ns string
		if err := rs.ScanKey(&ns); err != nil {
			return fmt.Errorf("blockedNamespaces view: %w", err)
		}
		set[ns] = struct{}{}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("blockedNamespaces view: %w", err)
	}
	if old := b.set.Swap(&set); old == nil || len(*old) != len(set) {
		b.log.Info("updated the namespace blacklist", "entries", len(set))
	}
	b.m.blacklisted.Set(float64(len(set)))
	return nil
}
