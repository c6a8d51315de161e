package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/faasedge/faasedge/internal/couch"
	"github.com/faasedge/faasedge/invoker"
)

// store is the trigger database, read and written as upstream's
// provider/database.py and action/lib/Database.js do.
type store struct {
	db       *kivik.DB
	client   *kivik.Client
	name     string
	canaryID string
}

const (
	filtersDesignDoc = "_design/filters"
	byWorkerView     = "by-worker"
	// The map functions are upstream's, byte for byte, so a database
	// migrated by either provider looks the same.
	byWorkerMap = `function(doc) {
                        if(doc.triggerURL && (!doc.status || doc.status.active)) {
                            emit(doc.worker || 'worker0', 1);
                        }
                    }`
	onlyTriggersMap = `function (doc) {
                                    if(doc.triggerURL) {
                                        emit(doc._id, 1);
                                    }
                                }`
)

func openStore(o *Options) (*store, error) {
	c, err := invoker.OpenCouch(invoker.CouchConfig{URL: o.DBURL, Username: o.DBUser, Password: o.DBPass})
	if err != nil {
		return nil, err
	}
	name := o.DBPrefix + "ow_kafka_triggers"
	return &store{client: c, db: c.DB(name), name: name, canaryID: "canary-" + o.Instance}, nil
}

func (s *store) close() { _ = s.client.Close() }

// migrate creates the database and the filters design document when
// missing, and adds the by-worker view to an older design document, as
// upstream's Database.migrate. It reports whether it created the database.
func (s *store) migrate(ctx context.Context) (created bool, err error) {
	ok, err := s.client.DBExists(ctx, s.name)
	if err != nil {
		return false, fmt.Errorf("kafkafeed: database %s: %w", s.name, err)
	}
	if !ok {
		if err := couch.CreateDBs(ctx, s.client, s.name); err != nil {
			return false, fmt.Errorf("kafkafeed: %w", err)
		}
		created = true
	}
	byWorker := map[string]any{"map": byWorkerMap, "reduce": "_count"}
	var ddoc map[string]any
	err = s.db.Get(ctx, filtersDesignDoc).ScanDoc(&ddoc)
	switch {
	case kivik.HTTPStatus(err) == http.StatusNotFound:
		ddoc = map[string]any{"views": map[string]any{
			"only-triggers": map[string]any{"map": onlyTriggersMap},
			byWorkerView:    byWorker,
		}}
	case err != nil:
		return created, fmt.Errorf("kafkafeed: read %s: %w", filtersDesignDoc, err)
	default:
		views, _ := ddoc["views"].(map[string]any)
		if views == nil {
			views = map[string]any{}
			ddoc["views"] = views
		}
		if _, ok := views[byWorkerView]; ok {
			return created, nil
		}
		views[byWorkerView] = byWorker
	}
	if _, err := s.db.Put(ctx, filtersDesignDoc, ddoc); err != nil && kivik.HTTPStatus(err) != http.StatusConflict {
		return created, fmt.Errorf("kafkafeed: write %s: %w", filtersDesignDoc, err)
	}
	return created, nil
}

// errNotFound is a missing or deleted trigger document.
var errNotFound = errors.New("missing")

func (s *store) get(ctx context.Context, id string) (*Trigger, error) {
	var t Trigger
	if err := s.db.Get(ctx, id).ScanDoc(&t); err != nil {
		if kivik.HTTPStatus(err) == http.StatusNotFound {
			return nil, errNotFound
		}
		return nil, err
	}
	return &t, nil
}

// put writes t; a conflict is returned as is so callers can read again.
func (s *store) put(ctx context.Context, t *Trigger) error {
	rev, err := s.db.Put(ctx, t.ID, t)
	if err == nil {
		t.Rev = rev
	}
	return err
}

// delete removes trigger id; a conflict with the consumer recording its
// status is retried.
func (s *store) delete(ctx context.Context, id string) error {
	for attempt := 0; ; attempt++ {
		t, err := s.get(ctx, id)
		if err != nil {
			return err
		}
		_, err = s.db.Delete(ctx, id, t.Rev)
		if kivik.HTTPStatus(err) == http.StatusConflict && attempt < 10 {
			continue
		}
		return err
	}
}

// setStatus rewrites the status of trigger id while keeping every other
// field, including ones this provider does not know. keep decides, on the
// current document, whether to write at all (a trigger deleted, recreated
// or disabled meanwhile is left alone). Conflicts are retried.
func (s *store) setStatus(ctx context.Context, id string, keep func(*Trigger) bool, st Status) error {
	for attempt := 0; ; attempt++ {
		var raw map[string]json.RawMessage
		err := s.db.Get(ctx, id).ScanDoc(&raw)
		if kivik.HTTPStatus(err) == http.StatusNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		var t Trigger
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, &t); err != nil {
			return err
		}
		if !keep(&t) {
			return nil
		}
		raw["status"], _ = json.Marshal(st)
		_, err = s.db.Put(ctx, id, raw)
		if kivik.HTTPStatus(err) == http.StatusConflict && attempt < 10 {
			continue
		}
		return err
	}
}

// workerLoads is the by-worker view grouped: active triggers per worker.
func (s *store) workerLoads(ctx context.Context) (map[string]int, error) {
	rows := s.db.Query(ctx, "filters", byWorkerView, kivik.Param("group", true))
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var v int
		if err := rows.ScanKey(&k); err != nil {
			return nil, err
		}
		if err := rows.ScanValue(&v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// touchCanary writes this instance's canary document, whose change on the
// feed proves the feed is alive (upstream's createCanary).
func (s *store) touchCanary(ctx context.Context) error {
	doc := map[string]any{"canary-timestamp": time.Now().Format("2006-01-02T15:04:05.000000")}
	var cur struct {
		Rev string `json:"_rev"`
	}
	err := s.db.Get(ctx, s.canaryID).ScanDoc(&cur)
	if err != nil && kivik.HTTPStatus(err) != http.StatusNotFound {
		return err
	}
	if cur.Rev != "" {
		doc["_rev"] = cur.Rev
	}
	_, err = s.db.Put(ctx, s.canaryID, doc)
	return err
}
