// Package testground reads the Testground plan of the large-deployment
// experiments: its manifest (manifest.toml) and compositions
// (compositions/*.toml), with the parameters each group's instances get the
// way Testground hands them out (the manifest's defaults, then the
// composition's global parameters, then the group's). The plan program is
// ./plan; its tests and this package's keep the files consistent, since
// Testground itself does not run here.
package testground

import (
	"fmt"
	"maps"
	"os"

	"github.com/pelletier/go-toml"
)

// Manifest is manifest.toml: the plan's name and test cases.
type Manifest struct {
	Name      string     `toml:"name"`
	Testcases []Testcase `toml:"testcases"`
}

// Testcase is one test case: its instance bounds and declared parameters
// (each a table with type, desc, default and, for enums, options).
type Testcase struct {
	Name      string                    `toml:"name"`
	Instances map[string]int64          `toml:"instances"`
	Params    map[string]map[string]any `toml:"params"`
}

// Group is one group of a composition.
type Group struct {
	ID        string `toml:"id"`
	Instances struct {
		Count int64 `toml:"count"`
	} `toml:"instances"`
	Run struct {
		Params map[string]string `toml:"test_params"`
	} `toml:"run"`
}

// Composition is one compositions/*.toml.
type Composition struct {
	Global struct {
		Plan   string `toml:"plan"`
		Case   string `toml:"case"`
		Total  int64  `toml:"total_instances"`
		Runner string `toml:"runner"`
		Run    struct {
			Params map[string]string `toml:"test_params"`
		} `toml:"run"`
	} `toml:"global"`
	Groups []Group `toml:"groups"`
}

// Load reads a TOML file into v.
func Load(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := toml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Case returns the test case named name.
func (m Manifest) Case(name string) (Testcase, bool) {
	for _, tc := range m.Testcases {
		if tc.Name == name {
			return tc, true
		}
	}
	return Testcase{}, false
}

// Defaults are the case's parameter defaults as the strings an instance
// receives.
func (tc Testcase) Defaults() map[string]string {
	out := map[string]string{}
	for k, p := range tc.Params {
		if d, ok := p["default"]; ok {
			out[k] = fmt.Sprint(d)
		}
	}
	return out
}

// Params are the parameters the instances of group g receive: the case's
// defaults, overridden by the composition's global parameters, overridden by
// the group's.
func (c Composition) Params(tc Testcase, g Group) map[string]string {
	out := tc.Defaults()
	maps.Copy(out, c.Global.Run.Params)
	maps.Copy(out, g.Run.Params)
	return out
}
