package controller

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/couch"
	"github.com/faasedge/faasedge/whisk"
)

// actionPut is WhiskActionPut, the body of PUT .../actions/name.
type actionPut struct {
	Exec           *execPut          `json:"exec"`
	Parameters     []whisk.Parameter `json:"parameters"`
	Limits         *limitsPut        `json:"limits"`
	Version        *string           `json:"version"`
	Publish        *bool             `json:"publish"`
	Annotations    whisk.Annotations `json:"annotations"`
	DelAnnotations []string          `json:"delAnnotations"`
}

type execPut struct {
	Kind       string   `json:"kind"`
	Code       *string  `json:"code"`
	Image      string   `json:"image"`
	Main       string   `json:"main"`
	Binary     *bool    `json:"binary"`
	Components []string `json:"components"`
}

// storedAction is an action document as read, with its attachments.
type storedAction struct {
	whisk.ActionDoc
}

func (s *entityStore) getAction(ctx context.Context, docID string) (*storedAction, error) {
	return readEntity[storedAction](ctx, s, docID, kindAction)
}

// putAction creates or updates the action ns/name (putEntity with
// update/make); ns is "namespace" or "namespace/package".
func (s *entityStore) putAction(ctx context.Context, ns, name string, put actionPut, overwrite bool) (*storedAction, error) {
	docID, cur, err := replaced[storedAction](ctx, s, ns, name, kindAction, overwrite)
	if err != nil {
		return nil, err
	}
	doc := whisk.ActionDoc{ID: docID, EntityType: kindAction, Name: name, Namespace: ns, Version: "0.0.1",
		Limits: whisk.DefaultLimits(), Parameters: []whisk.Parameter{}, Annotations: whisk.Annotations{}}
	var attachments map[string]any
	if cur != nil {
		doc = cur.ActionDoc
		doc.Version = upPatch(doc.Version)
		// Keep the current code attachment unless new code replaces it.
		for n := range cur.Attachments {
			attachments = map[string]any{n: map[string]bool{"stub": true}}
		}
	} else if put.Exec == nil {
		return nil, badRequest("The request content was malformed:\nexec undefined")
	}
	if put.Version != nil {
		doc.Version = *put.Version
	}
	// Limits first: new code is checked against them.
	if doc.Limits, err = put.Limits.apply(doc.Limits); err != nil {
		return nil, err
	}
	if put.Exec != nil {
		if put.Exec.Kind == sequenceKind {
			attachments, err = nil, s.applySequence(ctx, &doc, put.Exec.Components)
		} else {
			attachments, err = s.applyExec(&doc, put.Exec)
		}
		if err != nil {
			return nil, err
		}
	}
	if put.Parameters != nil {
		doc.Parameters = put.Parameters
	}
	if put.Publish != nil {
		doc.Publish = *put.Publish
	}
	doc.Annotations = amendAnnotations(doc.Annotations, put.Annotations, put.DelAnnotations, cur == nil)
	doc.Annotations.Set("exec", doc.Exec.Kind)
	doc.Updated = s.now().UnixMilli()
	doc.Attachments = nil
	if doc.Rev, err = s.put(ctx, docID, doc, attachments); err != nil {
		return nil, err
	}
	return &storedAction{doc}, nil
}

// applyExec checks new code for the action's kind and sets doc.Exec,
// returning the attachments that carry the code.
func (s *entityStore) applyExec(doc *whisk.ActionDoc, put *execPut) (map[string]any, error) {
	kind, err := resolveKind(s.cfg, put.Kind)
	if err != nil {
		return nil, err
	}
	if put.Code == nil {
		return nil, badRequest("The request content was malformed:\n'code' must be a string defined in 'exec' for '%s' actions", kind)
	}
	if len(*put.Code) > execSizeLimit {
		return nil, &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("exec larger than allowed: %d > %d bytes.", len(*put.Code), execSizeLimit)}
	}
	binary := whisk.LooksBase64(*put.Code)
	if put.Binary != nil {
		binary = *put.Binary
	}
	data, err := checkCode(kind, *put.Code, binary)
	if err != nil {
		return nil, err
	}
	if kind == whisk.KindWasm {
		// The module is checked as a run checks it, against the action's
		// memory limit: a module that could never run is refused now.
		if err := executor.CheckCode(&activation.Action{Code: activation.ParseCode(data, false), Main: put.Main, Limits: doc.Limits}); err != nil {
			return nil, badRequest("%v", err)
		}
	}
	att, atts := codeAttachment(data, binary)
	code, _ := json.Marshal(att)
	doc.Exec = whisk.Exec{Kind: kind, Code: code, Binary: binary, Main: put.Main}
	return atts, nil
}

// amendAnnotations applies a PUT's annotations and delAnnotations; a new
// action gets provide-api-key false unless given (amendAnnotations).
func amendAnnotations(cur, put whisk.Annotations, del []string, create bool) whisk.Annotations {
	if put != nil {
		cur = put
	}
	for _, k := range del {
		kept := cur[:0]
		for _, kv := range cur {
			if kv.Key != k {
				kept = append(kept, kv)
			}
		}
		cur = kept
	}
	if cur == nil {
		cur = whisk.Annotations{}
	}
	if create {
		if _, ok := cur.Get("provide-api-key"); !ok {
			cur.Set("provide-api-key", false)
		}
	}
	return cur
}

func (s *entityStore) deleteAction(ctx context.Context, docID string) (*storedAction, error) {
	cur, err := s.getAction(ctx, docID)
	if err != nil {
		return nil, err
	}
	if err := s.delete(ctx, docID, cur.Rev); err != nil {
		return nil, err
	}
	return cur, nil
}

// code returns an action's code as the API shows it: the text, or base64
// of binary code.
func (s *entityStore) code(ctx context.Context, a *storedAction) (string, error) {
	if c, ok := a.Exec.InlineCode(); ok {
		return c, nil
	}
	att, ok := a.Exec.CodeAttachment()
	if !ok {
		return "", nil
	}
	data, err := couch.CodeAttachment(ctx, s.db, a.ID, att.AttachmentName)
	if err != nil {
		return "", fmt.Errorf("controller: %s code: %w", a.ID, err)
	}
	if a.Exec.Binary {
		return base64.StdEncoding.EncodeToString(data), nil
	}
	return string(data), nil
}

// actionJSON is WhiskAction as the API writes it.
type actionJSON struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	Exec        execJSON          `json:"exec"`
	Parameters  []whisk.Parameter `json:"parameters"`
	Limits      whisk.Limits      `json:"limits"`
	Version     string            `json:"version"`
	Publish     bool              `json:"publish"`
	Annotations whisk.Annotations `json:"annotations"`
	Updated     int64             `json:"updated"`
}

type execJSON struct {
	Kind       string   `json:"kind"`
	Code       *string  `json:"code,omitempty"`
	Components []string `json:"components,omitempty"`
	Binary     bool     `json:"binary"`
	Main       string   `json:"main,omitempty"`
}

func toActionJSON(a *storedAction, code *string) actionJSON {
	if a.Exec.Kind == sequenceKind {
		code = nil
	}
	params := a.Parameters
	if params == nil {
		params = []whisk.Parameter{}
	}
	ann := a.Annotations
	if ann == nil {
		ann = whisk.Annotations{}
	}
	return actionJSON{
		Namespace: a.Namespace, Name: a.Name, Parameters: params, Limits: a.Limits,
		Exec:    execJSON{Kind: a.Exec.Kind, Code: code, Components: a.Exec.Components, Binary: a.Exec.Binary, Main: a.Exec.Main},
		Version: a.Version, Publish: a.Publish, Annotations: ann, Updated: a.Updated,
	}
}

// listActions lists a namespace's actions, newest update first, as the
// entities view does; packaged actions are listed under their root.
func (s *entityStore) listActions(ctx context.Context, ns string) ([]actionJSON, error) {
	docs, err := listEntities(ctx, s, ns, kindAction, func(a *storedAction) int64 { return a.Updated }, nil)
	if err != nil {
		return nil, err
	}
	var out []actionJSON
	for i := range docs {
		out = append(out, toActionJSON(&docs[i], nil))
	}
	return out, nil
}
