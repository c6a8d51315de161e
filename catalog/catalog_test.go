package catalog_test

import (
	"context"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/catalog"
	"github.com/faasedge/faasedge/invoker"
	fw "github.com/faasedge/faasedge/whisk"
)

func matches(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// jsonSubset reports whether every key of the object want is in got with
// the same value.
func jsonSubset(want, got string) bool {
	var w, g map[string]any
	if json.Unmarshal([]byte(want), &w) != nil || json.Unmarshal([]byte(got), &g) != nil {
		return false
	}
	for k, v := range w {
		if !reflect.DeepEqual(g[k], v) {
			return false
		}
	}
	return true
}

// Every utils action runs on the nodejs runner and answers its manifest's
// sampleInput with its sampleOutput; those whose sample depends on the
// time or the deployment are checked by shape.
func TestUtils(t *testing.T) {
	pkgs, err := catalog.Packages()
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 || pkgs[0].Name != "utils" || !pkgs[0].Public {
		t.Fatalf("packages %+v", pkgs)
	}
	var names []string
	for _, a := range pkgs[0].Actions {
		names = append(names, a.Name)
	}
	if got := strings.Join(names, " "); got != "cat date echo head hosturl namespace smash sort split" {
		t.Fatalf("actions %s", got)
	}
	shape := map[string]string{
		"date":      `^\{"date":"\d{4}-\d\d-\d\dT`,
		"namespace": `{"namespace":"guest"}`,
		"hosturl":   `{"url":"http://127.0.0.1:3233/api/v1/web/guest/utils/echo"}`,
	}
	r := &invoker.JSRunner{}
	for _, a := range pkgs[0].Actions {
		t.Run(a.Name, func(t *testing.T) {
			if !strings.HasPrefix(a.Code, "/*\n * Licensed to the Apache Software Foundation") {
				t.Error("license header missing")
			}
			ann := map[string]any{}
			for _, kv := range a.Annotations {
				ann[kv.Key] = kv.Value
			}
			in, _ := json.Marshal(ann["sampleInput"])
			if ann["sampleInput"] == nil {
				in = []byte(`{}`)
			}
			want, _ := json.Marshal(ann["sampleOutput"])
			if ann["description"] == nil || ann["sampleOutput"] == nil {
				t.Fatalf("annotations %v", ann)
			}
			res := r.Run(context.Background(), &activation.Action{Name: activation.FQN{Path: "whisk.system/utils", Name: a.Name}, Kind: "nodejs:20",
				Code: activation.Code{Inline: []byte(a.Code), Digest: "1"}, Limits: fw.DefaultLimits()},
				activation.Invocation{Value: in, Namespace: "guest", APIHost: "http://127.0.0.1:3233"})
			got := string(res.Response.Result)
			if res.Response.StatusCode != fw.StatusSuccess {
				t.Fatalf("%d %s; logs %q", res.Response.StatusCode, got, res.Logs)
			}
			if s, ok := shape[a.Name]; ok {
				if !(got == s || strings.HasPrefix(s, "^") && matches(s, got)) {
					t.Fatalf("got %s, want %s", got, s)
				}
				return
			}
			// Upstream's samples leave some keys out (cat's payload).
			if !jsonSubset(string(want), got) {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
}
