package controller

import (
	"context"
	"net/http"

	"github.com/faasedge/faasedge/whisk"
)

// resolvedAction is an action reached through its name: the document
// and the parameters it runs with before the payload (its package's or
// binding's, under its own).
type resolvedAction struct {
	*storedAction
	params []whisk.Parameter
}

// resolveAction is WhiskActionMetaData.resolveActionAndMergeParameters
// with the entitlement check: an action in the user's namespace, or in a
// package the user may read (its own, a binding of its own, or published).
func (s *entityStore) resolveAction(ctx context.Context, user string, f fqn) (*resolvedAction, error) {
	pkg := f.pkg()
	if pkg == "" {
		if f.root() != user {
			return nil, errForbidden
		}
		a, err := s.getAction(ctx, f.docID())
		if err != nil {
			return nil, err
		}
		return &resolvedAction{storedAction: a, params: a.Parameters}, nil
	}
	rp, err := s.resolvePackage(ctx, f.Path)
	if err == errNotFound && f.root() != user {
		return nil, errForbidden
	}
	if err != nil {
		return nil, err
	}
	if !rp.readable(user) {
		return nil, errForbidden
	}
	a, err := s.getAction(ctx, rp.origin.Namespace+"/"+rp.origin.Name+"/"+f.Name)
	if err != nil {
		return nil, err
	}
	return &resolvedAction{storedAction: a, params: mergeParams(rp.params, a.Parameters)}, nil
}

var errForbidden = &apiError{http.StatusForbidden, msgForbidden}
