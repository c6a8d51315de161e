package invoker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/couch"
	"github.com/faasedge/faasedge/whisk"
)

// OpenCouch connects to the CouchDB of cfg as couch.Open does; extra are
// further kivik options.
func OpenCouch(cfg CouchConfig, extra ...kivik.Option) (*kivik.Client, error) {
	c, err := couch.Open(cfg.URL, cfg.Username, cfg.Password, extra...)
	if err != nil {
		return nil, fmt.Errorf("invoker: couchdb %s: %w", cfg.URL, err)
	}
	return c, nil
}

// fetchError is an action that cannot run; resp is the stock fallback
// outcome (openwhisk-wire.md 4.2).
type fetchError struct {
	resp  whisk.ActivationResponse
	err   error
	retry bool // CouchDB unreachable or failing: worth another try
}

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

func fetchFailure(code whisk.StatusCode, msg string, err error) *fetchError {
	return &fetchError{resp: whisk.ErrorResponse(code, msg), err: err}
}

// storedAction is an action document resolved for running, with what
// only the invoker needs of it.
type storedAction struct {
	activation.Action
	rev string
	// provideAPIKey is the provide-api-key annotation (missing reads true).
	provideAPIKey bool
	// annotations begin every record of the action (limits, path, kind),
	// encoded once.
	annotations whisk.Annotations
}

// actionStore reads action documents and their code. It caches the latest
// document of each action seen, used when a message names that revision.
// A message naming any other revision (or none, like the health test
// action) reads the document again, and the latest one runs: the stock
// store never runs an old revision.
type actionStore struct {
	db            *kivik.DB
	nodejsDefault string
	log           *slog.Logger

	mu    sync.Mutex
	cache map[string]*storedAction // by document id
}

// maxCachedActions bounds the cache; on overflow it starts over, which
// costs one fetch per action.
const maxCachedActions = 4096

func (s *actionStore) get(ctx context.Context, fqn whisk.FullyQualifiedEntityName, rev *string) (*storedAction, error) {
	id := fqn.DocID()
	if rev != nil && *rev != "" {
		s.mu.Lock()
		a := s.cache[id]
		s.mu.Unlock()
		if a != nil && a.rev == *rev {
			return a, nil
		}
	}
	a, err := s.fetch(ctx, id)
	if err != nil {
		return nil, err
	}
	if rev != nil && *rev != "" && *rev != a.rev {
		s.log.Info("stale action revision requested, running the latest", "action", id, "requested", *rev, "latest", a.rev)
	}
	s.put(id, a)
	return a, nil
}

// put caches a as the latest document of id.
func (s *actionStore) put(id string, a *storedAction) {
	s.mu.Lock()
	if len(s.cache) >= maxCachedActions {
		clear(s.cache)
	}
	s.cache[id] = a
	s.mu.Unlock()
}

// fetch reads the latest document, retrying briefly when CouchDB is
// unreachable so that a restart does not fail activations.
func (s *actionStore) fetch(ctx context.Context, id string) (*storedAction, error) {
	var err error
	for attempt, wait := 0, 50*time.Millisecond; attempt < 5; attempt, wait = attempt+1, wait*2 {
		var a *storedAction
		a, err = s.fetchOnce(ctx, id)
		var fe *fetchError
		if err == nil || (errors.As(err, &fe) && !fe.retry) {
			return a, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
	return nil, err
}

func (s *actionStore) fetchOnce(ctx context.Context, id string) (*storedAction, error) {
	doc, err := s.read(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.resolve(ctx, id, doc)
}

// read reads the latest document of id.
func (s *actionStore) read(ctx context.Context, id string) (*whisk.ActionDoc, error) {
	row := s.db.Get(ctx, id)
	defer row.Close()
	if err := row.Err(); err != nil {
		if kivik.HTTPStatus(err) == http.StatusNotFound {
			return nil, fetchFailure(whisk.StatusApplicationError, whisk.MsgActionNotFound, fmt.Errorf("action %s: %w", id, err))
		}
		fe := fetchFailure(whisk.StatusWhiskError, whisk.MsgActionFetchFailed, fmt.Errorf("action %s: %w", id, err))
		fe.retry = kivik.HTTPStatus(err) >= 500
		return nil, fe
	}
	var doc whisk.ActionDoc
	if err := row.ScanDoc(&doc); err != nil {
		return nil, fetchFailure(whisk.StatusWhiskError, whisk.MsgActionIncompatible, fmt.Errorf("action %s: unreadable document: %w", id, err))
	}
	return &doc, nil
}

// resolve turns the document of id into an action runners can run: kind
// normalised, code decoded, its attachment read.
func (s *actionStore) resolve(ctx context.Context, id string, doc *whisk.ActionDoc) (*storedAction, error) {
	incompatible := func(format string, args ...any) error {
		return fetchFailure(whisk.StatusWhiskError, whisk.MsgActionIncompatible, fmt.Errorf("action %s: "+format, append([]any{id}, args...)...))
	}
	if doc.EntityType != "" && doc.EntityType != "action" {
		return nil, incompatible("entityType %q", doc.EntityType)
	}
	kind := whisk.NormalizeKind(doc.Exec.Kind)
	switch {
	case kind == "":
		return nil, incompatible("no exec kind")
	case kind == "sequence":
		return nil, fetchFailure(whisk.StatusWhiskError, whisk.MsgActionFetchFailed, fmt.Errorf("action %s: a sequence is not executable", id))
	case kind == "nodejs:default":
		kind = s.nodejsDefault
	}
	code, err := activation.CodeOf(doc.Exec)
	if err != nil {
		return nil, incompatible("%v", err)
	}
	a := &storedAction{
		Action: activation.Action{
			Name: activation.FQN{Path: doc.Namespace, Name: doc.Name}, Version: doc.Version,
			Kind: kind, Code: code, Main: doc.Exec.Main, Limits: doc.Limits,
			Capabilities: activation.CapabilitiesOf(doc.Annotations),
		},
		rev:           doc.Rev,
		provideAPIKey: doc.Annotations.Truthy("provide-api-key", true),
	}
	if a.Name.Path == "" || a.Name.Name == "" {
		i := strings.LastIndex(id, "/")
		a.Name = activation.FQN{Path: id[:i], Name: id[i+1:]}
	}
	if a.Version == "" {
		a.Version = "0.0.1"
	}
	if a.Code.Digest == "" {
		a.Code.Digest = id + "@" + doc.Rev
	}
	a.annotations.Set("limits", a.Limits)
	a.annotations.Set("path", a.Name.DocID())
	a.annotations.Set("kind", a.Kind)
	// Runners get code they can run: base64 decoded, attachments read.
	switch {
	case a.Code.CID != "":
		return a, nil
	case a.Code.Attachment == "":
		b, err := a.Code.Decoded()
		if err != nil {
			return nil, incompatible("binary code: %v", err)
		}
		a.Code.Inline, a.Code.Binary = b, false
		return a, nil
	}
	att := a.Code.Attachment
	// The attachment holds the code as exec.code would: "ipfs://<CID>"
	// included.
	resolve := func(b []byte) *storedAction {
		c := activation.ParseCode(b, a.Code.Binary)
		if c.CID == "" {
			c.Digest = a.Code.Digest
		}
		a.Code = c
		return a
	}
	// A mem: name holds the code; a couch: name must be the document's
	// one attachment.
	mem := strings.HasPrefix(att, whisk.MemScheme)
	if !mem {
		if len(doc.Attachments) != 1 {
			return nil, incompatible("%d attachments, want exactly one", len(doc.Attachments))
		}
		for stored := range doc.Attachments {
			if want := strings.TrimPrefix(att, whisk.CouchScheme); want != stored {
				return nil, incompatible("code names attachment %q but the document holds %q", att, stored)
			}
		}
	}
	b, err := couch.CodeAttachment(ctx, s.db, id, att)
	switch {
	case err != nil && mem:
		return nil, incompatible("%v", err)
	case err != nil:
		return nil, fetchFailure(whisk.StatusWhiskError, whisk.MsgActionFetchFailed, fmt.Errorf("action %s: attachment %s: %w", id, strings.TrimPrefix(att, whisk.CouchScheme), err))
	}
	return resolve(b), nil
}
