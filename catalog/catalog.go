// Package catalog holds the /whisk.system packages that `faasedge
// standalone` installs at start, in plain JavaScript exactly as Apache
// OpenWhisk's catalog has them (github.com/apache/openwhisk-catalog,
// packages/utils at a0d026f; Apache License 2.0, headers kept, NOTICE in
// utils/), and installs them through the REST API, so Install works against
// any OpenWhisk.
package catalog

import (
	"cmp"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"github.com/apache/openwhisk-client-go/whisk"
	"gopkg.in/yaml.v2"
)

// Namespace is the namespace of the catalog's packages.
const Namespace = "whisk.system"

// Kind is the kind of the catalog's actions: wskdeploy's for a .js file.
const Kind = "nodejs:default"

//go:embed utils
var files embed.FS

// Package is a catalog package with its actions.
type Package struct {
	Name        string
	Public      bool
	Annotations whisk.KeyValueArr
	Actions     []Action
}

// Action is a catalog action; Name is without the package.
type Action struct {
	Name        string
	Code        string
	Annotations whisk.KeyValueArr
}

// manifest is the part of a wskdeploy manifest.yaml the catalog uses.
type manifest struct {
	Project struct {
		Packages map[string]struct {
			Public      bool           `yaml:"public"`
			Annotations map[string]any `yaml:"annotations"`
			Actions     map[string]struct {
				Function    string         `yaml:"function"`
				Annotations map[string]any `yaml:"annotations"`
			} `yaml:"actions"`
		} `yaml:"packages"`
	} `yaml:"project"`
}

// Packages reads the embedded packages from their manifests, packages and
// actions in name order.
func Packages() ([]Package, error) {
	dirs, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, err
	}
	var pkgs []Package
	for _, d := range dirs {
		b, err := fs.ReadFile(files, path.Join(d.Name(), "manifest.yaml"))
		if err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		var m manifest
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("catalog: %s: %w", d.Name(), err)
		}
		for name, mp := range m.Project.Packages {
			p := Package{Name: name, Public: mp.Public, Annotations: keyValues(mp.Annotations)}
			for aname, ma := range mp.Actions {
				code, err := fs.ReadFile(files, path.Join(d.Name(), ma.Function))
				if err != nil {
					return nil, fmt.Errorf("catalog: %s/%s: %w", name, aname, err)
				}
				p.Actions = append(p.Actions, Action{Name: aname, Code: string(code), Annotations: keyValues(ma.Annotations)})
			}
			slices.SortFunc(p.Actions, func(a, b Action) int { return cmp.Compare(a.Name, b.Name) })
			pkgs = append(pkgs, p)
		}
	}
	slices.SortFunc(pkgs, func(a, b Package) int { return cmp.Compare(a.Name, b.Name) })
	return pkgs, nil
}

// Install creates or updates every catalog package and action in the
// namespace of c, which must be Namespace, as the catalog's install
// script does with wskdeploy.
func Install(ctx context.Context, c *whisk.Client) error {
	pkgs, err := Packages()
	if err != nil {
		return err
	}
	for _, p := range pkgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		public := p.Public
		if _, _, err := c.Packages.Insert(&whisk.Package{Namespace: Namespace, Name: p.Name, Publish: &public, Annotations: p.Annotations}, true); err != nil {
			return fmt.Errorf("catalog: package %s: %w", p.Name, err)
		}
		for _, a := range p.Actions {
			if err := ctx.Err(); err != nil {
				return err
			}
			code := a.Code
			act := &whisk.Action{Namespace: Namespace, Name: p.Name + "/" + a.Name, Exec: &whisk.Exec{Kind: Kind, Code: &code}, Annotations: a.Annotations}
			if _, _, err := c.Actions.Insert(act, true); err != nil {
				return fmt.Errorf("catalog: action %s/%s: %w", p.Name, a.Name, err)
			}
		}
	}
	return nil
}

// keyValues turns manifest annotations into the API's key-value list, keys
// in order, YAML maps made JSON objects.
func keyValues(m map[string]any) whisk.KeyValueArr {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	kvs := make(whisk.KeyValueArr, 0, len(keys))
	for _, k := range keys {
		kvs = append(kvs, whisk.KeyValue{Key: k, Value: jsonValue(m[k])})
	}
	return kvs
}

// jsonValue converts yaml.v2's map[any]any, recursively, to map[string]any.
func jsonValue(v any) any {
	switch v := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonValue(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = jsonValue(e)
		}
		return s
	}
	return v
}
