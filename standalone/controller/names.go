package controller

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/faasedge/faasedge/whisk"
)

// fqn is FullyQualifiedEntityName as documents and responses carry it:
// the path ("ns" or "ns/pkg") and the name.
type fqn struct {
	Path    string `json:"path"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

func (f fqn) docID() string { return f.Path + "/" + f.Name }

// String is FullyQualifiedEntityName.asString: "ns/pkg/name".
func (f fqn) String() string { return f.docID() }

// root is the namespace of the path.
func (f fqn) root() string { r, _, _ := strings.Cut(f.Path, "/"); return r }

// pkg is the package of the path, "" for none.
func (f fqn) pkg() string { _, p, _ := strings.Cut(f.Path, "/"); return p }

// parseFQN reads an entity reference as the CLI and PUT bodies give it:
// "/ns/name", "/ns/pkg/name", "name" or "pkg/name" (in namespace ns);
// "_" as the namespace is ns.
func parseFQN(s, ns string) (fqn, error) {
	bad := badRequest("The fully qualified name of the entity must contain at least the namespace and the name of the entity.")
	var parts []string
	if rest, ok := strings.CutPrefix(s, "/"); ok {
		parts = strings.Split(rest, "/")
		if len(parts) < 2 {
			return fqn{}, bad
		}
	} else {
		parts = append([]string{ns}, strings.Split(s, "/")...)
	}
	if len(parts) > 3 {
		return fqn{}, bad
	}
	if parts[0] == "_" {
		parts[0] = ns
	}
	for _, p := range parts {
		if !validName(p) {
			return fqn{}, badRequest(msgEntityNameIllegal)
		}
	}
	n := len(parts) - 1
	return fqn{Path: strings.Join(parts[:n], "/"), Name: parts[n]}, nil
}

// ref decodes a reference that is either a string or an {"path","name"}
// object, as FullyQualifiedEntityName.serdes reads it.
type ref struct {
	s   string
	obj *fqn
}

func (r *ref) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var f fqn
		if err := json.Unmarshal(b, &f); err != nil {
			return err
		}
		r.obj = &f
		return nil
	}
	return json.Unmarshal(b, &r.s)
}

func (r *ref) resolve(ns string) (fqn, error) {
	if r.obj != nil {
		f := *r.obj
		if root, rest, ok := strings.Cut(f.Path, "/"); root == "_" {
			f.Path = ns
			if ok {
				f.Path += "/" + rest
			}
		}
		return f, nil
	}
	return parseFQN(r.s, ns)
}

func validName(n string) bool { return len(n) <= 256 && entityNameRE.MatchString(n) }

// mergeParams is Parameters ++: over's values replace base's, new keys
// follow in order.
func mergeParams(base, over []whisk.Parameter) []whisk.Parameter {
	out := append([]whisk.Parameter{}, base...)
	for _, p := range over {
		replaced := false
		for i := range out {
			if out[i].Key == p.Key {
				out[i], replaced = p, true
				break
			}
		}
		if !replaced {
			out = append(out, p)
		}
	}
	return out
}

// entitySummary is WhiskEntity.summaryAsJson, a list entry.
type entitySummary struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Publish     bool              `json:"publish"`
	Annotations whisk.Annotations `json:"annotations"`
	Updated     int64             `json:"updated"`
	Binding     any               `json:"binding,omitempty"`
}

// listPage is a collection listing: skip/limit, or the count.
func listPage[T any](q *request, collection string, all []T) {
	skip, limit, count, ok := listParams(q, collection)
	if !ok {
		return
	}
	if count {
		q.json(http.StatusOK, map[string]int{collection: len(page(all, skip, 0))})
		return
	}
	q.json(http.StatusOK, page(all, skip, limit))
}
