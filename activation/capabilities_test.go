package activation

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/faasedge/faasedge/whisk"
)

func TestCapabilitiesOf(t *testing.T) {
	ann := func(kv ...string) whisk.Annotations {
		var a whisk.Annotations
		for i := 0; i < len(kv); i += 2 {
			a = append(a, whisk.KeyValue{Key: kv[i], Value: json.RawMessage(kv[i+1])})
		}
		return a
	}
	tests := []struct {
		name string
		ann  whisk.Annotations
		want Capabilities
	}{
		{"none", nil, Capabilities{}},
		{"array", ann(AnnotationAllowedHosts, `["a.com"," b.org:8080 ",""]`), Capabilities{AllowedHosts: []string{"a.com", "b.org:8080"}}},
		{"string", ann(AnnotationAllowedHosts, `"a.com, *.b.org"`), Capabilities{AllowedHosts: []string{"a.com", "*.b.org"}}},
		{"empty list gives HTTP to no host", ann(AnnotationAllowedHosts, `[]`), Capabilities{AllowedHosts: []string{}}},
		{"flags", ann(AnnotationKV, `true`, AnnotationIPFSAdd, `"yes"`), Capabilities{KV: true, IPFSAdd: true}},
		{"false flags", ann(AnnotationKV, `false`, AnnotationIPFSAdd, `0`), Capabilities{}},
		{"budget", ann(AnnotationAllowedHosts, `"a.com"`, AnnotationHTTPBudget, `{"bytes":100,"ms":5}`), Capabilities{AllowedHosts: []string{"a.com"}, HTTPBytes: 100, HTTPMillis: 5}},
		{"bad hosts", ann(AnnotationAllowedHosts, `7`), Capabilities{Invalid: `the action's annotation faasedge-allowed-hosts is 7: want an array of host names or a comma-separated string`}},
		{"negative budget", ann(AnnotationHTTPBudget, `{"bytes":-1}`), Capabilities{Invalid: `the action's annotation faasedge-http-budget is {"bytes":-1}: want {"bytes": N, "ms": M}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CapabilitiesOf(tt.ann)
			if !slices.Equal(got.AllowedHosts, tt.want.AllowedHosts) || (got.AllowedHosts == nil) != (tt.want.AllowedHosts == nil) {
				t.Fatalf("hosts %q, want %q", got.AllowedHosts, tt.want.AllowedHosts)
			}
			got.AllowedHosts, tt.want.AllowedHosts = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzCapabilitiesOf reads any annotation values (a user writes them):
// never a panic, and a readable result is well formed.
func FuzzCapabilitiesOf(f *testing.F) {
	f.Add(`["a.com"]`, `{"bytes":1,"ms":2}`, `true`)
	f.Add(`"a.com,b.com"`, `{}`, `null`)
	f.Add(`{}`, `[1]`, `"x"`)
	f.Fuzz(func(t *testing.T, hosts, budget, flag string) {
		c := CapabilitiesOf(whisk.Annotations{
			{Key: AnnotationAllowedHosts, Value: json.RawMessage(hosts)},
			{Key: AnnotationHTTPBudget, Value: json.RawMessage(budget)},
			{Key: AnnotationKV, Value: json.RawMessage(flag)},
		})
		if c.Invalid != "" {
			return
		}
		if c.HTTPBytes < 0 || c.HTTPMillis < 0 {
			t.Fatalf("negative budget %+v", c)
		}
		for _, h := range c.AllowedHosts {
			if h == "" || strings.TrimSpace(h) != h {
				t.Fatalf("host %q", h)
			}
		}
	})
}
