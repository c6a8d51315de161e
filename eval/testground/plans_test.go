package testground

import (
	"path/filepath"
	"slices"
	"testing"
)

func load(t *testing.T, path string, v any) {
	t.Helper()
	if err := Load(path, v); err != nil {
		t.Fatal(err)
	}
}

// TestCompositionsMatchManifest checks every composition names the plan
// and a case of the manifest, counts its instances right, stays within the
// case's instance bounds, and sets only parameters the case declares, with
// enum values among the options.
func TestCompositionsMatchManifest(t *testing.T) {
	var m Manifest
	load(t, "manifest.toml", &m)
	files, err := filepath.Glob("compositions/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no compositions: %v", err)
	}
	for _, f := range files {
		var c Composition
		load(t, f, &c)
		if c.Global.Plan != m.Name {
			t.Fatalf("%s: plan %q, manifest %q", f, c.Global.Plan, m.Name)
		}
		tc, ok := m.Case(c.Global.Case)
		if !ok {
			t.Fatalf("%s: case %q not in the manifest", f, c.Global.Case)
		}
		var sum int64
		check := func(where string, ps map[string]string) {
			for k, v := range ps {
				p, ok := tc.Params[k]
				if !ok {
					t.Fatalf("%s %s: parameter %q not declared by case %s", f, where, k, tc.Name)
				}
				if opts, ok := p["options"].([]any); ok && !slices.Contains(opts, any(v)) {
					t.Fatalf("%s %s: %s = %q not among %v", f, where, k, v, opts)
				}
			}
		}
		check("global", c.Global.Run.Params)
		for _, g := range c.Groups {
			if g.Instances.Count < 1 {
				t.Fatalf("%s: group %s has %d instances", f, g.ID, g.Instances.Count)
			}
			sum += g.Instances.Count
			check("group "+g.ID, g.Run.Params)
		}
		if sum != c.Global.Total {
			t.Fatalf("%s: groups hold %d instances, total_instances is %d", f, sum, c.Global.Total)
		}
		if sum < tc.Instances["min"] || sum > tc.Instances["max"] {
			t.Fatalf("%s: %d instances outside the case's %v", f, sum, tc.Instances)
		}
	}
}
