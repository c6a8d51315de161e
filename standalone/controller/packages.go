package controller

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/faasedge/faasedge/whisk"
)

// binding is a package binding's reference, {} for a package.
type binding struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

func (b binding) isSet() bool    { return b.Name != "" }
func (b binding) docID() string  { return b.Namespace + "/" + b.Name }
func (b binding) String() string { return b.docID() }

// packageDoc is WhiskPackage in the whisks database; without _id, _rev
// and entityType it is what the API writes.
type packageDoc struct {
	docHead
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	Binding     binding           `json:"binding"`
	Parameters  []whisk.Parameter `json:"parameters"`
	Version     string            `json:"version"`
	Publish     bool              `json:"publish"`
	Annotations whisk.Annotations `json:"annotations"`
	Updated     int64             `json:"updated"`
}

// api is the document as responses carry it.
func (p packageDoc) api() packageDoc {
	p.docHead = docHead{}
	p.Parameters, p.Annotations = nonNil(p.Parameters, p.Annotations)
	return p
}

func (p *packageDoc) summary() entitySummary {
	s := entitySummary{Namespace: p.Namespace, Name: p.Name, Version: p.Version, Publish: p.Publish, Annotations: p.api().Annotations, Updated: p.Updated, Binding: false}
	if p.Binding.isSet() {
		s.Binding = p.Binding
	}
	return s
}

// packagePut is WhiskPackagePut.
type packagePut struct {
	entityPut
	Binding *binding `json:"binding"`
}

// Package errors (Messages).
var (
	errBindingMissing      = badRequest("Binding references a package that does not exist.")
	errBindingNotPackage   = &apiError{http.StatusConflict, "Cannot bind to a resource that is not a package."}
	errBindingOfBinding    = badRequest("Cannot bind to another package binding.")
	errPackageToBinding    = &apiError{http.StatusConflict, "Resource is a package and cannot be converted into a binding."}
	errNotAllowedOnBinding = badRequest("Operation not permitted on package binding.")
)

func (s *entityStore) getPackage(ctx context.Context, docID string) (*packageDoc, error) {
	return readEntity[packageDoc](ctx, s, docID, kindPackage)
}

// checkBinding is Packages.checkBinding: a binding must name a package
// that is not itself a binding.
func (s *entityStore) checkBinding(ctx context.Context, b binding) error {
	p, err := s.getPackage(ctx, b.docID())
	switch {
	case err == errNotFound:
		return errBindingMissing
	case err == errConformance:
		return errBindingNotPackage
	case err != nil:
		return err
	case p.Binding.isSet():
		return errBindingOfBinding
	}
	return nil
}

// putPackage creates or updates the package (or binding) ns/name.
func (s *entityStore) putPackage(ctx context.Context, ns, name string, put packagePut, overwrite bool) (*packageDoc, error) {
	if name == "default" {
		return nil, badRequest("Package name 'default' is reserved.")
	}
	docID, cur, err := replaced[packageDoc](ctx, s, ns, name, kindPackage, overwrite)
	if err != nil {
		return nil, err
	}
	if put.Binding != nil && put.Binding.Namespace == "_" {
		put.Binding.Namespace = ns
	}
	doc := packageDoc{docHead: docHead{ID: docID, EntityType: kindPackage}, Namespace: ns, Name: name, Version: "0.0.1", Parameters: []whisk.Parameter{}, Annotations: whisk.Annotations{}}
	if cur != nil {
		doc = *cur
		doc.Version = upPatch(doc.Version)
		if put.Binding != nil && !cur.Binding.isSet() {
			return nil, errPackageToBinding
		}
	}
	if put.Binding != nil {
		if err := s.checkBinding(ctx, *put.Binding); err != nil {
			return nil, err
		}
		doc.Binding = *put.Binding
	}
	put.apply(&doc.Version, &doc.Parameters, &doc.Publish, &doc.Annotations)
	// The binding annotation is always the controller's.
	kept := whisk.Annotations{}
	for _, kv := range doc.Annotations {
		if kv.Key != "binding" {
			kept = append(kept, kv)
		}
	}
	doc.Annotations = kept
	if doc.Binding.isSet() {
		doc.Annotations.Set("binding", doc.Binding)
	}
	doc.Updated = s.now().UnixMilli()
	if doc.Rev, err = s.put(ctx, docID, doc, nil); err != nil {
		return nil, err
	}
	return &doc, nil
}

// deletePackage deletes a package with no actions left (all of them with
// force), or a binding.
func (s *entityStore) deletePackage(ctx context.Context, docID string, force bool) (*packageDoc, error) {
	p, err := s.getPackage(ctx, docID)
	if err != nil {
		return nil, err
	}
	if !p.Binding.isSet() {
		actions, err := s.packageActions(ctx, docID)
		if err != nil {
			return nil, err
		}
		if len(actions) > 0 && !force {
			what := "entities"
			if len(actions) == 1 {
				what = "entity"
			}
			return nil, &apiError{http.StatusConflict, fmt.Sprintf("Package not empty (contains %d %s). Set force param or delete package contents.", len(actions), what)}
		}
		for _, a := range actions {
			if _, err := s.deleteAction(ctx, docID+"/"+a.Name); err != nil {
				return nil, err
			}
		}
	}
	return p, s.delete(ctx, docID, p.Rev)
}

// packageActions lists the actions of the package at path ("ns/pkg").
func (s *entityStore) packageActions(ctx context.Context, path string) ([]actionJSON, error) {
	root, _, _ := strings.Cut(path, "/")
	all, err := s.listActions(ctx, root)
	if err != nil {
		return nil, err
	}
	var out []actionJSON
	for _, a := range all {
		if a.Namespace == path {
			out = append(out, a)
		}
	}
	return out, nil
}

// resolvedPackage is a package reached through its name: the package
// that holds the actions (origin) and the parameters its actions inherit
// (the package's, under a binding's).
type resolvedPackage struct {
	origin  *packageDoc
	binding *packageDoc // nil unless reached through a binding
	params  []whisk.Parameter
}

// resolvePackage is WhiskPackage.resolveBinding with merged parameters.
func (s *entityStore) resolvePackage(ctx context.Context, docID string) (*resolvedPackage, error) {
	p, err := s.getPackage(ctx, docID)
	if err != nil {
		return nil, err
	}
	if !p.Binding.isSet() {
		return &resolvedPackage{origin: p, params: p.Parameters}, nil
	}
	if p.Binding.docID() == docID {
		return nil, &apiError{http.StatusUnprocessableEntity, fmt.Sprintf("Package binding '%s' contains a circular reference.", p.Binding)}
	}
	origin, err := s.getPackage(ctx, p.Binding.docID())
	if err != nil {
		return nil, err
	}
	return &resolvedPackage{origin: origin, binding: p, params: mergeParams(origin.Parameters, p.Parameters)}, nil
}

// readable is the entitlement to read or activate what a package holds:
// the user's own, or published (a binding in the user's namespace may
// point at another namespace's published package).
func (r *resolvedPackage) readable(user string) bool {
	if r.binding != nil && r.binding.Namespace != user && !r.binding.Publish {
		return false
	}
	return r.origin.Namespace == user || r.origin.Publish
}

// listPackages lists a namespace's packages, newest first; another
// namespace shows only its published packages.
func (s *entityStore) listPackages(ctx context.Context, ns string, publicOnly bool) ([]entitySummary, error) {
	docs, err := listEntities(ctx, s, ns, kindPackage, func(p *packageDoc) int64 { return p.Updated },
		func(p *packageDoc) bool { return !publicOnly || p.Publish })
	if err != nil {
		return nil, err
	}
	out := make([]entitySummary, len(docs))
	for i := range docs {
		out[i] = docs[i].summary()
	}
	return out, nil
}

// packageWithActions is WhiskPackageWithActions: a package (or binding,
// with the merged parameters) and the summaries of its actions.
type packageWithActions struct {
	packageDoc
	Actions []packageAction `json:"actions"`
	Feeds   []packageAction `json:"feeds"`
}

type packageAction struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Annotations whisk.Annotations `json:"annotations"`
}

func (s *entityStore) packageWithActions(ctx context.Context, r *resolvedPackage) (*packageWithActions, error) {
	shown := *r.origin
	if r.binding != nil {
		shown = *r.binding
		shown.Parameters = r.params
	}
	out := &packageWithActions{packageDoc: shown.api(), Actions: []packageAction{}, Feeds: []packageAction{}}
	actions, err := s.packageActions(ctx, r.origin.Namespace+"/"+r.origin.Name)
	if err != nil {
		return nil, err
	}
	for _, a := range actions {
		pa := packageAction{Name: a.Name, Version: a.Version, Annotations: a.Annotations}
		if _, feed := a.Annotations.Get("feed"); feed {
			out.Feeds = append(out.Feeds, pa)
		} else {
			out.Actions = append(out.Actions, pa)
		}
	}
	return out, nil
}
