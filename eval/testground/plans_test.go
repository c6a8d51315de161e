// Package testground holds the Testground plan for the large-deployment
// experiments (manifest.toml, compositions/); this test keeps the
// compositions consistent with the manifest, since Testground itself does
// not run here.
package testground

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pelletier/go-toml"
)

type manifest struct {
	Name      string     `toml:"name"`
	Testcases []testcase `toml:"testcases"`
}

type testcase struct {
	Name      string                    `toml:"name"`
	Instances map[string]int64          `toml:"instances"`
	Params    map[string]map[string]any `toml:"params"`
}

type group struct {
	ID        string `toml:"id"`
	Instances struct {
		Count int64 `toml:"count"`
	} `toml:"instances"`
	Run struct {
		Params map[string]string `toml:"test_params"`
	} `toml:"run"`
}

type composition struct {
	Global struct {
		Plan   string `toml:"plan"`
		Case   string `toml:"case"`
		Total  int64  `toml:"total_instances"`
		Runner string `toml:"runner"`
		Run    struct {
			Params map[string]string `toml:"test_params"`
		} `toml:"run"`
	} `toml:"global"`
	Groups []group `toml:"groups"`
}

func load(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := toml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestCompositionsMatchManifest checks every composition names the plan
// and a case of the manifest, counts its instances right, stays within the
// case's instance bounds, and sets only parameters the case declares, with
// enum values among the options.
func TestCompositionsMatchManifest(t *testing.T) {
	var m manifest
	load(t, "manifest.toml", &m)
	files, err := filepath.Glob("compositions/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no compositions: %v", err)
	}
	for _, f := range files {
		var c composition
		load(t, f, &c)
		if c.Global.Plan != m.Name {
			t.Fatalf("%s: plan %q, manifest %q", f, c.Global.Plan, m.Name)
		}
		i := slices.IndexFunc(m.Testcases, func(tc testcase) bool { return tc.Name == c.Global.Case })
		if i < 0 {
			t.Fatalf("%s: case %q not in the manifest", f, c.Global.Case)
		}
		tc := m.Testcases[i]
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
