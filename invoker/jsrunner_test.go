package invoker

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/faasedge/faasedge/whisk"
)

func TestJSRunner(t *testing.T) {
	r := &JSRunner{}
	for _, tc := range []struct {
		name, code string
		timeout    int64
		value      string
		status     whisk.StatusCode
		result     string
		timedOut   bool
	}{
		{name: "health action", code: `function main(params) { return params; }`, result: `{}`},
		{name: "params and env", code: `function main(p) { return {x: p.x, id: process.env.__OW_ACTIVATION_ID}; }`, value: `{"x":[1]}`, result: `{"x":[1],"id":"abc"}`},
		{name: "resolved promise", code: `function main() { return Promise.resolve({ok: true}); }`, result: `{"ok":true}`},
		{name: "rejected promise", code: `function main() { return Promise.reject("no"); }`, status: whisk.StatusApplicationError, result: `{"error":"no"}`},
		{name: "no require", code: `function main() { return require("fs"); }`, status: whisk.StatusDeveloperError, result: `{"error":"An error has occurred: ReferenceError: require is not defined"}`},
		{name: "syntax error", code: `function main( {`, status: whisk.StatusDeveloperError},
		{name: "not a dictionary", code: `function main() { return 3; }`, status: whisk.StatusDeveloperError, result: `{"error":"The action did not return a dictionary."}`},
		{name: "run timeout", code: `function main() { while (true) {} }`, timeout: 100, status: whisk.StatusDeveloperError, result: mustMarshal(map[string]string{"error": whisk.MsgTimeout(100)}), timedOut: true},
		{name: "init timeout", code: `while (true) {}`, timeout: 100, status: whisk.StatusDeveloperError, result: mustMarshal(map[string]string{"error": whisk.MsgInitTimeout(100)}), timedOut: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := whisk.DefaultLimits()
			if tc.timeout > 0 {
				l.Timeout = tc.timeout
			}
			a := &Action{Namespace: "guest", Name: "t", Kind: "nodejs:20", Code: []byte(tc.code), Limits: l}
			res := r.Run(context.Background(), a, Invocation{Value: json.RawMessage(tc.value), Env: map[string]string{"__OW_ACTIVATION_ID": "abc"}})
			if res.Response.StatusCode != tc.status || (tc.result != "" && string(res.Response.Result) != tc.result) || res.TimedOut != tc.timedOut {
				t.Errorf("got %d %s timedOut=%v", res.Response.StatusCode, res.Response.Result, res.TimedOut)
			}
			if !res.Cold || res.InitTime <= 0 || res.End.Before(res.Start) {
				t.Errorf("timing %+v", res)
			}
		})
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
