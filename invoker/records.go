package invoker

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/faasedge/faasedge/whisk"
)

// recorder writes activation records through _bulk_docs, batching what
// queues up while a write is under way (up to 500, as the stock batcher).
// While CouchDB is unreachable it keeps the records and retries with
// backoff, so they arrive when the database comes back.
type recorder struct {
	db  *kivik.DB
	log *slog.Logger
	m   *metrics

	mu      sync.Mutex
	queue   []whisk.ActivationDoc
	wake    chan struct{}
	closing bool
	busy    int // records being written
	done    chan struct{}
}

const maxRecordBatch = 500

func newRecorder(db *kivik.DB, log *slog.Logger, m *metrics) *recorder {
	r := &recorder{db: db, log: log, m: m, wake: make(chan struct{}, 1), done: make(chan struct{})}
	return r
}

// add queues a record.
func (r *recorder) add(doc whisk.ActivationDoc) {
	r.mu.Lock()
	r.queue = append(r.queue, doc)
	r.m.recordsPending.Set(float64(len(r.queue) + r.busy))
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run writes until close has been called and the queue is empty, or ctx
// ends.
func (r *recorder) run(ctx context.Context) {
	defer close(r.done)
	backoff := 50 * time.Millisecond
	for {
		r.mu.Lock()
		n := min(len(r.queue), maxRecordBatch)
		batch := r.queue[:n:n]
		r.busy = n
		closing := r.closing
		r.mu.Unlock()
		if n == 0 {
			if closing {
				return
			}
			select {
			case <-r.wake:
			case <-ctx.Done():
				return
			}
			continue
		}
		if err := r.write(ctx, batch); err != nil {
			r.log.Warn("activation records not written, will retry", "records", n, "err", err)
			r.m.couchErrors.Inc()
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		r.mu.Lock()
		r.queue = r.queue[n:]
		r.busy = 0
		r.m.recordsPending.Set(float64(len(r.queue)))
		r.mu.Unlock()
	}
}

func (r *recorder) write(ctx context.Context, batch []whisk.ActivationDoc) error {
	docs := make([]any, len(batch))
	for i := range batch {
		docs[i] = batch[i]
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	results, err := r.db.BulkDocs(ctx, docs)
	if err != nil {
		return fmt.Errorf("bulk_docs: %w", err)
	}
	for _, res := range results {
		switch {
		case res.Error == nil:
			r.m.recordsWritten.Inc()
		case kivik.HTTPStatus(res.Error) == http.StatusConflict:
			// Written by an earlier try whose answer was lost.
			r.m.recordsWritten.Inc()
		default:
			r.log.Error("activation record rejected", "id", res.ID, "err", res.Error)
			r.m.recordsRejected.Inc()
		}
	}
	return nil
}

// close makes run return once the queue is empty and waits for that, or
// for ctx to end.
func (r *recorder) close(ctx context.Context) error {
	r.mu.Lock()
	r.closing = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		r.mu.Lock()
		n := len(r.queue)
		r.mu.Unlock()
		return fmt.Errorf("invoker: %d activation records not written: %w", n, ctx.Err())
	}
}
