package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/faasedge/faasedge/whisk"
)

// entityStore is the whisks database: actions, packages, triggers and
// rules, as the stock EntityStore keeps them (one document per entity,
// _id "namespace/name", an entityType naming its collection).
type entityStore struct {
	db  *kivik.DB
	cfg Config
	now func() time.Time
}

// ensureHealthAction is InvokerPool.prepare: write the health test action
// with inline string code and the minimum memory.
func (c *entityStore) ensureHealthAction(ctx context.Context) error {
	id := "whisk.system/" + healthActionName(c.cfg)
	code, _ := json.Marshal("function main(params) { return params; }")
	doc := whisk.ActionDoc{
		ID: id, EntityType: "action", Name: healthActionName(c.cfg), Namespace: "whisk.system",
		Updated:     c.now().UnixMilli(),
		Exec:        whisk.Exec{Kind: c.cfg.NodejsDefault, Code: code},
		Parameters:  []whisk.Parameter{},
		Limits:      whisk.Limits{Timeout: whisk.DefaultTimeoutMs, Memory: whisk.MinMemoryMB, Logs: whisk.DefaultLogsMB, Concurrency: 1},
		Version:     "0.0.1",
		Annotations: whisk.Annotations{},
	}
	var cur whisk.ActionDoc
	if err := c.db.Get(ctx, id).ScanDoc(&cur); err == nil {
		doc.Rev = cur.Rev
	} else if kivik.HTTPStatus(err) != http.StatusNotFound {
		return fmt.Errorf("controller: read health action: %w", err)
	}
	if _, err := c.db.Put(ctx, id, doc); err != nil {
		return fmt.Errorf("controller: write health action: %w", err)
	}
	return nil
}

// Request errors carry the HTTP status and the message for the REST body.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

var errNotFound = &apiError{http.StatusNotFound, "The requested resource does not exist."}

func page[T any](xs []T, skip, limit int) []T {
	xs = xs[min(skip, len(xs)):]
	if limit > 0 && limit < len(xs) {
		xs = xs[:limit]
	}
	if xs == nil {
		xs = []T{}
	}
	return xs
}

// docHead is what the database keeps beside an entity's API form.
type docHead struct {
	ID         string `json:"_id,omitempty"`
	Rev        string `json:"_rev,omitempty"`
	EntityType string `json:"entityType,omitempty"`
}

// nonNil gives responses the empty lists stock writes for none.
func nonNil(params []whisk.Parameter, ann whisk.Annotations) ([]whisk.Parameter, whisk.Annotations) {
	if params == nil {
		params = []whisk.Parameter{}
	}
	if ann == nil {
		ann = whisk.Annotations{}
	}
	return params, ann
}

// entityPut is what PUT bodies of packages, triggers and rules share;
// fields left out keep the entity's values.
type entityPut struct {
	Parameters  []whisk.Parameter `json:"parameters"`
	Version     *string           `json:"version"`
	Publish     *bool             `json:"publish"`
	Annotations whisk.Annotations `json:"annotations"`
}

// apply sets the fields the body gives.
func (p entityPut) apply(version *string, params *[]whisk.Parameter, publish *bool, ann *whisk.Annotations) {
	if p.Version != nil {
		*version = *p.Version
	}
	if p.Parameters != nil && params != nil {
		*params = p.Parameters
	}
	if p.Publish != nil {
		*publish = *p.Publish
	}
	if p.Annotations != nil {
		*ann = p.Annotations
	}
}

// Entity collections, the entityType of their documents.
const (
	kindAction  = "action"
	kindPackage = "package"
	kindTrigger = "trigger"
	kindRule    = "rule"
)

var (
	errConformance = &apiError{http.StatusConflict, "Resource by this name exists but is not in this collection."}
	errConcurrent  = &apiError{http.StatusConflict, "Concurrent modification to resource detected."}
	errExists      = &apiError{http.StatusConflict, "resource already exists"}
)

// get reads the document docID of collection kind into doc: errNotFound
// when there is none, errConformance when it belongs to another collection.
func (s *entityStore) get(ctx context.Context, docID, kind string, doc any) error {
	var raw json.RawMessage
	if err := s.db.Get(ctx, docID).ScanDoc(&raw); err != nil {
		if kivik.HTTPStatus(err) == http.StatusNotFound {
			return errNotFound
		}
		return fmt.Errorf("controller: read %s: %w", docID, err)
	}
	var probe struct {
		EntityType string          `json:"entityType"`
		Exec       json.RawMessage `json:"exec"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return fmt.Errorf("controller: read %s: %w", docID, err)
	}
	// Documents written before entityType existed are actions when they
	// have exec.
	if t := probe.EntityType; t != kind && (t != "" || (kind == kindAction) != (probe.Exec != nil)) {
		return errConformance
	}
	if err := json.Unmarshal(raw, doc); err != nil {
		return fmt.Errorf("controller: read %s: %w", docID, err)
	}
	return nil
}

// readEntity reads the document docID of collection kind as a T (see get).
func readEntity[T any](ctx context.Context, s *entityStore, docID, kind string) (*T, error) {
	var d T
	if err := s.get(ctx, docID, kind, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// replaced reads the entity a PUT of ns/name replaces (putEntity): its
// document id, and the entity, nil when there is none; errExists when there
// is one and the PUT may not overwrite it.
func replaced[T any](ctx context.Context, s *entityStore, ns, name, kind string, overwrite bool) (string, *T, error) {
	docID := ns + "/" + name
	cur, err := readEntity[T](ctx, s, docID, kind)
	switch {
	case err == nil && !overwrite:
		return "", nil, errExists
	case err == errNotFound:
		return docID, nil, nil
	}
	return docID, cur, err
}

// listEntities decodes the documents of collection kind under namespace
// ns that keep accepts (all when keep is nil), newest update first, as
// the entities view lists them.
func listEntities[T any](ctx context.Context, s *entityStore, ns, kind string, updated func(*T) int64, keep func(*T) bool) ([]T, error) {
	var docs []T
	err := s.scan(ctx, ns, kind, func(raw json.RawMessage) error {
		var d T
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("controller: list %ss: %w", kind, err)
		}
		if keep == nil || keep(&d) {
			docs = append(docs, d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(docs, func(i, j int) bool { return updated(&docs[i]) > updated(&docs[j]) })
	return docs, nil
}

// put writes doc (with _rev inside when it replaces a revision) and the
// given _attachments, returning the new revision.
func (s *entityStore) put(ctx context.Context, docID string, doc any, attachments map[string]any) (string, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("controller: encode %s: %w", docID, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", fmt.Errorf("controller: encode %s: %w", docID, err)
	}
	delete(m, "_attachments")
	if attachments != nil {
		m["_attachments"] = attachments
	}
	rev, err := s.db.Put(ctx, docID, m)
	if err != nil {
		if kivik.HTTPStatus(err) == http.StatusConflict {
			return "", errConcurrent
		}
		return "", fmt.Errorf("controller: write %s: %w", docID, err)
	}
	return rev, nil
}

func (s *entityStore) delete(ctx context.Context, docID, rev string) error {
	if _, err := s.db.Delete(ctx, docID, rev); err != nil {
		if kivik.HTTPStatus(err) == http.StatusConflict {
			return errConcurrent
		}
		return fmt.Errorf("controller: delete %s: %w", docID, err)
	}
	return nil
}

// scan calls fn with every document of collection kind under namespace
// ns, packaged entities included (their namespace is "ns/pkg").
func (s *entityStore) scan(ctx context.Context, ns, kind string, fn func(raw json.RawMessage) error) error {
	rows := s.db.AllDocs(ctx, kivik.Params(map[string]any{"include_docs": true, "startkey": ns + "/", "endkey": ns + "/\ufff0"}))
	defer rows.Close()
	for rows.Next() {
		var raw json.RawMessage
		if err := rows.ScanDoc(&raw); err != nil {
			return fmt.Errorf("controller: list %ss: %w", kind, err)
		}
		var probe struct {
			EntityType string          `json:"entityType"`
			Namespace  string          `json:"namespace"`
			Exec       json.RawMessage `json:"exec"`
		}
		if json.Unmarshal(raw, &probe) != nil {
			continue
		}
		if t := probe.EntityType; t != kind && (t != "" || (kind == kindAction) != (probe.Exec != nil)) {
			continue
		}
		if root, _, _ := strings.Cut(probe.Namespace, "/"); root != ns {
			continue
		}
		if err := fn(raw); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("controller: list %ss: %w", kind, err)
	}
	return nil
}

// upPatch is SemVer.upPatch, the version of an updated entity.
func upPatch(v string) string {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return "0.0.1"
	}
	p, err := strconv.Atoi(parts[2])
	if err != nil {
		return "0.0.1"
	}
	return parts[0] + "." + parts[1] + "." + strconv.Itoa(p+1)
}
