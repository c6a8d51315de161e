package controller

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/ipfs/go-cid"

	"github.com/faasedge/faasedge/whisk"
)

// maxInlineSize is whisk.db.max-inline-size: code smaller than this is
// stored inline as a mem: attachment name, larger code as a couch:
// attachment (openwhisk-wire.md 4.3).
const maxInlineSize = 16 << 10

// WasmKind is the WebAssembly kind (design.md 4).
const WasmKind = "wasm:wasip1"

// subjectDoc is a subjects database entry (WhiskAuth).
type subjectDoc struct {
	ID         string `json:"_id"`
	Rev        string `json:"_rev,omitempty"`
	Subject    string `json:"subject"`
	Namespaces []struct {
		Name string `json:"name"`
		UUID string `json:"uuid"`
		Key  string `json:"key"`
	} `json:"namespaces"`
	Blocked bool `json:"blocked,omitempty"`
}

// ensureSubjects writes the guest subject unless it exists, then loads
// every identity.
func (c *Controller) ensureSubjects(ctx context.Context) error {
	guest := map[string]any{
		"subject":    GuestNamespace,
		"namespaces": []map[string]string{{"name": GuestNamespace, "uuid": GuestUUID, "key": GuestKey}},
	}
	if _, err := c.subjects.Put(ctx, GuestNamespace, guest); err != nil && kivik.HTTPStatus(err) != http.StatusConflict {
		return fmt.Errorf("controller: write guest subject: %w", err)
	}
	return c.loadIdentities(ctx)
}

func (c *Controller) loadIdentities(ctx context.Context) error {
	rows := c.subjects.AllDocs(ctx, kivik.Param("include_docs", true))
	defer rows.Close()
	ids := map[string]whisk.Identity{}
	for rows.Next() {
		var d subjectDoc
		if err := rows.ScanDoc(&d); err != nil || d.Blocked || strings.HasPrefix(d.ID, "_design/") {
			continue
		}
		for _, ns := range d.Namespaces {
			ids[ns.UUID+":"+ns.Key] = whisk.Identity{
				Subject:   d.Subject,
				Namespace: whisk.Namespace{Name: ns.Name, UUID: ns.UUID},
				AuthKey:   whisk.AuthKey{APIKey: ns.UUID + ":" + ns.Key},
				Rights:    []string{"READ", "PUT", "DELETE", "ACTIVATE"},
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("controller: read subjects: %w", err)
	}
	c.identMu.Lock()
	c.identities = ids
	c.identMu.Unlock()
	return nil
}

// identity authenticates "uuid:key"; an unknown key reloads the subjects
// once, so subjects added to the database work without a restart.
func (c *Controller) identity(ctx context.Context, uuid, key string) (whisk.Identity, bool) {
	c.identMu.Lock()
	id, ok := c.identities[uuid+":"+key]
	c.identMu.Unlock()
	if ok {
		return id, true
	}
	if err := c.loadIdentities(ctx); err != nil {
		c.log.Warn("controller: reload subjects", "err", err)
		return id, false
	}
	c.identMu.Lock()
	defer c.identMu.Unlock()
	id, ok = c.identities[uuid+":"+key]
	return id, ok
}

// ensureHealthAction is InvokerPool.prepare: write the health test action
// with inline string code and the minimum memory.
func (c *Controller) ensureHealthAction(ctx context.Context) error {
	id := "whisk.system/" + c.healthActionName()
	code, _ := json.Marshal("function main(params) { return params; }")
	doc := whisk.ActionDoc{
		ID: id, EntityType: "action", Name: c.healthActionName(), Namespace: "whisk.system",
		Updated:     c.now().UnixMilli(),
		Exec:        whisk.Exec{Kind: c.cfg.NodejsDefault, Code: code},
		Parameters:  []whisk.Parameter{},
		Limits:      whisk.Limits{Timeout: whisk.DefaultTimeoutMs, Memory: whisk.MinMemoryMB, Logs: whisk.DefaultLogsMB, Concurrency: 1},
		Version:     "0.0.1",
		Annotations: whisk.Annotations{},
	}
	var cur whisk.ActionDoc
	if err := c.whisks.Get(ctx, id).ScanDoc(&cur); err == nil {
		doc.Rev = cur.Rev
	} else if kivik.HTTPStatus(err) != http.StatusNotFound {
		return fmt.Errorf("controller: read health action: %w", err)
	}
	if _, err := c.whisks.Put(ctx, id, doc); err != nil {
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

type limitsPut struct {
	Timeout     *int64 `json:"timeout"`
	Memory      *int64 `json:"memory"`
	Logs        *int64 `json:"logs"`
	Concurrency *int   `json:"concurrency"`
}

// execSizeLimit is Exec.sizeLimit: 48 MB of code.
const execSizeLimit = 48 << 20

// LimitRanges are the ranges actions are checked against: the stock
// configuration's, with concurrency up to 500 as the local deployment allows
// (limit_action_concurrency_max). The standalone's invokers get the same, so
// they never refuse an action this controller accepted.
func LimitRanges() whisk.LimitRanges {
	r := whisk.DefaultLimitRanges()
	r.Concurrency.Max, r.NamespaceConcurrency.Max = 500, 500
	return r
}

func (l *limitsPut) apply(base whisk.Limits) (whisk.Limits, error) {
	if l == nil {
		return base, nil
	}
	r := LimitRanges()
	for _, c := range []struct {
		v          *int64
		what, unit string
		r          whisk.Range
		dst        *int64
	}{
		{l.Timeout, "timeout", " milliseconds", r.Timeout, &base.Timeout},
		{l.Memory, "memory", " MB", r.Memory, &base.Memory},
		{l.Logs, "log size", " MB", r.Logs, &base.Logs},
	} {
		if c.v == nil {
			continue
		}
		if err := checkRange(c.what, *c.v, c.unit, c.r); err != nil {
			return base, err
		}
		*c.dst = *c.v
	}
	if l.Concurrency != nil {
		if err := checkRange("concurrency", int64(*l.Concurrency), "", r.Concurrency); err != nil {
			return base, err
		}
		base.Concurrency = *l.Concurrency
	}
	return base, nil
}

// checkRange is the stock limit check's message: "memory 64 MB below
// allowed threshold of 128 MB".
func checkRange(what string, v int64, unit string, r whisk.Range) error {
	switch {
	case v < r.Min:
		return badRequest("%s %d%s below allowed threshold of %d%s", what, v, unit, r.Min, unit)
	case v > r.Max:
		return badRequest("%s %d%s exceeds allowed threshold of %d%s", what, v, unit, r.Max, unit)
	}
	return nil
}

// resolveKind lowercases the kind and resolves family defaults; only the
// kinds the standalone's invokers run are accepted.
func (c *Controller) resolveKind(kind string) (string, error) {
	k := whisk.NormalizeKind(kind)
	switch k {
	case "nodejs:default", c.cfg.NodejsDefault:
		return c.cfg.NodejsDefault, nil
	case "wasm:default", WasmKind:
		return WasmKind, nil
	}
	return "", badRequest("The specified runtime '%s' is not supported by this platform. Valid values are: '%s', '%s'.", kind, c.cfg.NodejsDefault, WasmKind)
}

// checkCode says what is wrong with an action's code for its kind.
func checkCode(kind, code string, binary bool) ([]byte, error) {
	if !binary {
		if kind == WasmKind {
			rest, ok := strings.CutPrefix(strings.TrimSpace(code), "ipfs://")
			if !ok {
				return nil, badRequest("wasm:wasip1 code must be a zip holding one .wasm module, base64-encoded WebAssembly, or the text ipfs://<CID>; got text that is none of these")
			}
			if _, err := cid.Decode(strings.TrimSuffix(rest, "/")); err != nil {
				return nil, badRequest("wasm:wasip1 code %q is not a valid ipfs://<CID>: %v", strings.TrimSpace(code), err)
			}
		}
		if strings.TrimSpace(code) == "" {
			return nil, badRequest("The action code is empty.")
		}
		return []byte(code), nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(code))
	if err != nil {
		return nil, badRequest("binary action code is not valid base64: %v", err)
	}
	switch kind {
	case WasmKind:
		if err := checkWasm(b); err != nil {
			return nil, badRequest("wasm:wasip1 code must be a zip holding one .wasm module, base64-encoded WebAssembly, or the text ipfs://<CID>: %v", err)
		}
	default:
		return nil, badRequest("%s actions run plain JavaScript here; zip archives and binary code are not supported", kind)
	}
	return b, nil
}

var wasmMagic = []byte("\x00asm")

func checkWasm(b []byte) error {
	if bytes.HasPrefix(b, wasmMagic) {
		return nil
	}
	if !bytes.HasPrefix(b, []byte("PK")) {
		return errors.New("the bytes are neither a WebAssembly module nor a zip archive")
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return fmt.Errorf("unreadable zip archive: %w", err)
	}
	var mods []*zip.File
	for _, f := range zr.File {
		if strings.HasSuffix(strings.ToLower(f.Name), ".wasm") && !f.FileInfo().IsDir() {
			mods = append(mods, f)
		}
	}
	if len(mods) != 1 {
		return fmt.Errorf("the zip archive holds %d .wasm files, want exactly one", len(mods))
	}
	rc, err := mods[0].Open()
	if err != nil {
		return fmt.Errorf("zip entry %s: %w", mods[0].Name, err)
	}
	defer rc.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(rc, head); err != nil || !bytes.Equal(head, wasmMagic) {
		return fmt.Errorf("zip entry %s is not a WebAssembly module", mods[0].Name)
	}
	return nil
}

// codeAttachment stores code as the stock store does: inline mem: below
// 16 KiB, otherwise a couch:<uuid> attachment of the decoded bytes.
func codeAttachment(data []byte, binary bool) (whisk.Attachment, map[string]any) {
	ctype := "text/plain; charset=UTF-8"
	if binary {
		ctype = "application/octet-stream"
	}
	sum := sha256.Sum256(data)
	n := int64(len(data))
	a := whisk.Attachment{AttachmentType: ctype, Length: &n, Digest: "sha256-" + hex.EncodeToString(sum[:])}
	if len(data) < maxInlineSize {
		a.AttachmentName = whisk.EncodeMemAttachment(data)
		return a, nil
	}
	name := newUUID()
	a.AttachmentName = whisk.CouchScheme + name
	return a, map[string]any{name: map[string]string{"content_type": ctype, "data": base64.StdEncoding.EncodeToString(data)}}
}

// storedAction is an action document as read, with its attachments.
type storedAction struct {
	whisk.ActionDoc
}

func (c *Controller) getAction(ctx context.Context, docID string) (*storedAction, error) {
	var d storedAction
	if err := c.whisks.Get(ctx, docID).ScanDoc(&d); err != nil {
		if kivik.HTTPStatus(err) == http.StatusNotFound {
			return nil, errNotFound
		}
		return nil, fmt.Errorf("controller: read %s: %w", docID, err)
	}
	if d.EntityType != "" && d.EntityType != "action" {
		return nil, &apiError{http.StatusConflict, "Resource by this name exists but is not in this collection."}
	}
	return &d, nil
}

var errNotFound = &apiError{http.StatusNotFound, "The requested resource does not exist."}

// putAction creates or updates an action (putEntity with update/make).
func (c *Controller) putAction(ctx context.Context, ns, name string, body []byte, overwrite bool) (*storedAction, error) {
	var put actionPut
	if err := json.Unmarshal(body, &put); err != nil {
		return nil, badRequest("The request content was malformed:\n%v", err)
	}
	docID := ns + "/" + name
	cur, err := c.getAction(ctx, docID)
	switch {
	case err == nil && !overwrite:
		return nil, &apiError{http.StatusConflict, "resource already exists"}
	case err != nil && err != errNotFound:
		return nil, err
	}
	doc := whisk.ActionDoc{ID: docID, EntityType: "action", Name: name, Namespace: ns, Version: "0.0.1",
		Limits: whisk.DefaultLimits(), Parameters: []whisk.Parameter{}, Annotations: whisk.Annotations{}}
	var attachments map[string]any
	if cur != nil {
		doc = cur.ActionDoc
		doc.Version = upPatch(doc.Version)
		if put.Version != nil {
			doc.Version = *put.Version
		}
		// Keep the current code attachment unless new code replaces it.
		for n := range cur.Attachments {
			attachments = map[string]any{n: map[string]bool{"stub": true}}
		}
	} else if put.Exec == nil {
		return nil, badRequest("The request content was malformed:\nexec undefined")
	} else if put.Version != nil {
		doc.Version = *put.Version
	}
	if put.Exec != nil {
		kind, err := c.resolveKind(put.Exec.Kind)
		if err != nil {
			return nil, err
		}
		if put.Exec.Code == nil {
			return nil, badRequest("The request content was malformed:\n'code' must be a string defined in 'exec' for '%s' actions", kind)
		}
		if len(*put.Exec.Code) > execSizeLimit {
			return nil, &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("exec larger than allowed: %d > %d bytes.", len(*put.Exec.Code), execSizeLimit)}
		}
		binary := whisk.LooksBase64(*put.Exec.Code)
		if put.Exec.Binary != nil {
			binary = *put.Exec.Binary
		}
		data, err := checkCode(kind, *put.Exec.Code, binary)
		if err != nil {
			return nil, err
		}
		att, atts := codeAttachment(data, binary)
		code, _ := json.Marshal(att)
		doc.Exec = whisk.Exec{Kind: kind, Code: code, Binary: binary, Main: put.Exec.Main}
		attachments = atts
	}
	if doc.Limits, err = put.Limits.apply(doc.Limits); err != nil {
		return nil, err
	}
	if put.Parameters != nil {
		doc.Parameters = put.Parameters
	}
	if put.Publish != nil {
		doc.Publish = *put.Publish
	}
	if put.Annotations != nil {
		doc.Annotations = put.Annotations
	}
	for _, k := range put.DelAnnotations {
		kept := doc.Annotations[:0]
		for _, kv := range doc.Annotations {
			if kv.Key != k {
				kept = append(kept, kv)
			}
		}
		doc.Annotations = kept
	}
	if cur == nil {
		// amendAnnotations on create: provide-api-key false unless given.
		if _, ok := doc.Annotations.Get("provide-api-key"); !ok {
			doc.Annotations.Set("provide-api-key", false)
		}
	}
	doc.Annotations.Set("exec", doc.Exec.Kind)
	doc.Updated = c.now().UnixMilli()
	doc.Attachments = nil
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("controller: encode action: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("controller: encode action: %w", err)
	}
	if attachments != nil {
		m["_attachments"] = attachments
	}
	rev, err := c.whisks.Put(ctx, docID, m)
	if err != nil {
		if kivik.HTTPStatus(err) == http.StatusConflict {
			return nil, &apiError{http.StatusConflict, "Concurrent modification to resource detected."}
		}
		return nil, fmt.Errorf("controller: write %s: %w", docID, err)
	}
	doc.Rev = rev
	return &storedAction{doc}, nil
}

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

func (c *Controller) deleteAction(ctx context.Context, docID string) (*storedAction, error) {
	cur, err := c.getAction(ctx, docID)
	if err != nil {
		return nil, err
	}
	if _, err := c.whisks.Delete(ctx, docID, cur.Rev); err != nil {
		if kivik.HTTPStatus(err) == http.StatusConflict {
			return nil, &apiError{http.StatusConflict, "Concurrent modification to resource detected."}
		}
		return nil, fmt.Errorf("controller: delete %s: %w", docID, err)
	}
	return cur, nil
}

// code returns an action's code as the API shows it: the text, or base64
// of binary code.
func (c *Controller) code(ctx context.Context, a *storedAction) (string, error) {
	if s, ok := a.Exec.InlineCode(); ok {
		return s, nil
	}
	att, ok := a.Exec.CodeAttachment()
	if !ok {
		return "", nil
	}
	var data []byte
	if strings.HasPrefix(att.AttachmentName, whisk.MemScheme) {
		b, err := whisk.DecodeMemAttachment(att.AttachmentName)
		if err != nil {
			return "", fmt.Errorf("controller: %s: %w", a.ID, err)
		}
		data = b
	} else {
		r, err := c.whisks.GetAttachment(ctx, a.ID, strings.TrimPrefix(att.AttachmentName, whisk.CouchScheme))
		if err != nil {
			return "", fmt.Errorf("controller: %s code: %w", a.ID, err)
		}
		defer r.Content.Close()
		if data, err = io.ReadAll(r.Content); err != nil {
			return "", fmt.Errorf("controller: %s code: %w", a.ID, err)
		}
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
	Kind   string  `json:"kind"`
	Code   *string `json:"code,omitempty"`
	Binary bool    `json:"binary"`
	Main   string  `json:"main,omitempty"`
}

func toActionJSON(a *storedAction, code *string) actionJSON {
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
		Exec:    execJSON{Kind: a.Exec.Kind, Code: code, Binary: a.Exec.Binary, Main: a.Exec.Main},
		Version: a.Version, Publish: a.Publish, Annotations: ann, Updated: a.Updated,
	}
}

// listActions lists a namespace's actions, newest update first, as the
// entities view does; packaged actions are listed under their root.
func (c *Controller) listActions(ctx context.Context, ns string, skip, limit int) ([]actionJSON, error) {
	rows := c.whisks.AllDocs(ctx, kivik.Params(map[string]any{"include_docs": true, "startkey": ns + "/", "endkey": ns + "/\ufff0"}))
	defer rows.Close()
	var out []actionJSON
	for rows.Next() {
		var d storedAction
		if err := rows.ScanDoc(&d); err != nil {
			return nil, fmt.Errorf("controller: list actions: %w", err)
		}
		if d.Exec.Kind == "" || (d.EntityType != "" && d.EntityType != "action") {
			continue
		}
		if root, _, _ := strings.Cut(d.Namespace, "/"); root != ns {
			continue
		}
		out = append(out, toActionJSON(&d, nil))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("controller: list actions: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Updated > out[j].Updated })
	return page(out, skip, limit), nil
}

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

// getActivation reads an activation record by the user's namespace.
func (c *Controller) getActivation(ctx context.Context, ns, aid string) (*whisk.ActivationDoc, error) {
	var d whisk.ActivationDoc
	if err := c.activations.Get(ctx, whisk.ActivationDocID(ns, aid)).ScanDoc(&d); err != nil {
		if kivik.HTTPStatus(err) == http.StatusNotFound {
			return nil, errNotFound
		}
		return nil, fmt.Errorf("controller: read activation %s: %w", aid, err)
	}
	return &d, nil
}

// activationFilter is the list query of GET .../activations.
type activationFilter struct {
	name        string // "action" or "pkg/action"
	since, upto int64
}

// listActivations lists a namespace's activation records, newest first,
// as the activations view does.
func (c *Controller) listActivations(ctx context.Context, ns string, f activationFilter) ([]whisk.ActivationDoc, error) {
	rows := c.activations.AllDocs(ctx, kivik.Params(map[string]any{"include_docs": true, "startkey": ns + "/", "endkey": ns + "/\ufff0"}))
	defer rows.Close()
	var out []whisk.ActivationDoc
	for rows.Next() {
		var d whisk.ActivationDoc
		if err := rows.ScanDoc(&d); err != nil || d.ActivationID == "" {
			continue
		}
		if f.name != "" && !matchesName(d, f.name) {
			continue
		}
		if (f.since > 0 && d.Start < f.since) || (f.upto > 0 && d.Start > f.upto) {
			continue
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("controller: list activations: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start > out[j].Start })
	return out, nil
}

// matchesName is the filter view's key: the path annotation without the
// namespace ("pkg/action" or "action").
func matchesName(d whisk.ActivationDoc, name string) bool {
	if raw, ok := d.Annotations.Get("path"); ok {
		var p string
		if json.Unmarshal(raw, &p) == nil {
			if _, rest, ok := strings.Cut(p, "/"); ok && rest == name {
				return true
			}
		}
	}
	return d.Name == name
}

// extendedResponse is ActivationResponse.toExtendedJson: statusCode gives
// way to success and status.
type extendedResponse struct {
	Result  json.RawMessage `json:"result,omitempty"`
	Size    *int64          `json:"size,omitempty"`
	Success bool            `json:"success"`
	Status  string          `json:"status"`
}

func extend(r whisk.ActivationResponse) extendedResponse {
	return extendedResponse{Result: r.Result, Size: r.Size, Success: r.StatusCode == whisk.StatusSuccess, Status: r.StatusCode.String()}
}

// extendedActivation is WhiskActivation.toExtendedJson.
type extendedActivation struct {
	Namespace    string            `json:"namespace"`
	Name         string            `json:"name"`
	Subject      string            `json:"subject"`
	ActivationID string            `json:"activationId"`
	Start        int64             `json:"start"`
	End          int64             `json:"end,omitempty"`
	Cause        string            `json:"cause,omitempty"`
	Response     extendedResponse  `json:"response"`
	Logs         []string          `json:"logs"`
	Version      string            `json:"version"`
	Publish      bool              `json:"publish"`
	Annotations  whisk.Annotations `json:"annotations"`
	Duration     *int64            `json:"duration,omitempty"`
}

func toExtended(a whisk.Activation) extendedActivation {
	e := extendedActivation{
		Namespace: a.Namespace, Name: a.Name, Subject: a.Subject, ActivationID: a.ActivationID,
		Start: a.Start, End: a.End, Cause: a.Cause, Response: extend(a.Response), Logs: a.Logs,
		Version: a.Version, Publish: a.Publish, Annotations: a.Annotations,
	}
	if e.Logs == nil {
		e.Logs = []string{}
	}
	if e.Annotations == nil {
		e.Annotations = whisk.Annotations{}
	}
	if a.End != 0 {
		d := a.End - a.Start
		if a.Duration != nil {
			d = *a.Duration
		}
		e.Duration = &d
	}
	return e
}

// activationSummary is the activations view's value (docs=false).
type activationSummary struct {
	Namespace    string            `json:"namespace"`
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Publish      bool              `json:"publish"`
	Annotations  whisk.Annotations `json:"annotations"`
	ActivationID string            `json:"activationId"`
	Start        int64             `json:"start"`
	End          int64             `json:"end,omitempty"`
	Duration     *int64            `json:"duration,omitempty"`
	Cause        string            `json:"cause,omitempty"`
	StatusCode   *int              `json:"statusCode,omitempty"`
}

func summarize(a whisk.Activation) activationSummary {
	s := activationSummary{Namespace: a.Namespace, Name: a.Name, Version: a.Version, Publish: a.Publish,
		Annotations: a.Annotations, ActivationID: a.ActivationID, Start: a.Start, Cause: a.Cause}
	if s.Annotations == nil {
		s.Annotations = whisk.Annotations{}
	}
	if a.End != 0 {
		s.End = a.End
		d := a.End - a.Start
		s.Duration = &d
		code := int(a.Response.StatusCode)
		s.StatusCode = &code
	}
	return s
}

// waitForActivation is waitForActivationResponse: the result ack, or the
// record in the database when the ack came shrunk (polled at once and at
// +1, +3, +5, +7 s) and every 15 s from the start, until the wait ends.
func (c *Controller) waitForActivation(ctx context.Context, ns, aid string, results <-chan *whisk.Activation, shrunk <-chan struct{}, wait time.Duration) *whisk.Activation {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	every := time.NewTicker(15 * time.Second)
	defer every.Stop()
	var polls <-chan time.Time
	var schedule []time.Duration
	poll := func() *whisk.Activation {
		d, err := c.getActivation(ctx, ns, aid)
		if err != nil {
			return nil
		}
		return &d.Activation
	}
	for {
		select {
		case a := <-results:
			return a
		case <-shrunk:
			schedule = []time.Duration{0, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}
			polls = time.After(0)
		case <-polls:
			schedule = schedule[1:]
			if a := poll(); a != nil {
				return a
			}
			polls = nil
			if len(schedule) > 0 {
				polls = time.After(schedule[0])
			}
		case <-every.C:
			if a := poll(); a != nil {
				return a
			}
		case <-deadline.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
