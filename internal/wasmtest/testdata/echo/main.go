// Command echo is the Go test action of the executor's two ABIs, built both
// as a command and as a reactor (-buildmode=c-shared) from this one source
// over the Go SDK's RunRaw. Its parameters choose what it does, so one
// module covers many of the executor's paths:
//
//	{"log": "text"}       prints text on stdout and on stderr before answering
//	{"exit": n}           exits with code n after printing any "print" text
//	{"print": "text"}     answers text as is instead of JSON
//	{"panic": "text"}     panics (a reactor's instance is lost)
//	{"env": "NAME"}       answers {"env": the activation's value of NAME}
//	{"read": "/path"}     answers {"read": the file's content} or {"error": why not}
//	{"calls": true}       answers {"calls": activations this instance has served}
//	anything else         answers the parameters unchanged
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/faasedge/faasedge/action"
)

var calls int

func main() {
	action.RunRaw(func(ctx context.Context, value []byte) ([]byte, error) {
		calls++
		return answer(ctx, value), nil
	})
}

func answer(ctx context.Context, value []byte) []byte {
	var p map[string]any
	_ = json.Unmarshal(value, &p) // arrays echo unchanged
	if s, ok := p["log"].(string); ok {
		fmt.Println(s)
		fmt.Fprintln(os.Stderr, s)
	}
	if s, ok := p["panic"].(string); ok {
		panic(s)
	}
	if n, ok := p["exit"].(float64); ok {
		if s, ok := p["print"].(string); ok {
			fmt.Println(s)
		}
		os.Exit(int(n))
	}
	if v, ok := p["print"]; ok {
		s, _ := v.(string)
		return []byte(s)
	}
	if name, ok := p["env"].(string); ok {
		out, _ := json.Marshal(map[string]string{"env": getenv(ctx, name)})
		return out
	}
	if path, ok := p["read"].(string); ok {
		b, err := os.ReadFile(path)
		out, _ := json.Marshal(map[string]string{"read": string(b)})
		if err != nil {
			out, _ = json.Marshal(map[string]string{"error": err.Error()})
		}
		return out
	}
	if _, ok := p["calls"]; ok {
		out, _ := json.Marshal(map[string]int{"calls": calls})
		return out
	}
	return value
}

// getenv is the activation's value of an environment variable: the SDK
// holds its __OW_* values (a reactor's process environment has only those
// of the instance), the environment the rest (init arguments).
func getenv(ctx context.Context, name string) string {
	a, _ := action.FromContext(ctx)
	ow := map[string]string{
		"__OW_ACTIVATION_ID": a.ID, "__OW_TRANSACTION_ID": a.TransactionID, "__OW_NAMESPACE": a.Namespace,
		"__OW_ACTION_NAME": a.ActionName, "__OW_ACTION_VERSION": a.ActionVersion, "__OW_API_HOST": a.APIHost,
		"__OW_API_KEY": a.APIKey,
	}
	if !a.Deadline.IsZero() {
		ow["__OW_DEADLINE"] = strconv.FormatInt(a.Deadline.UnixMilli(), 10)
	}
	if v, ok := ow[name]; ok {
		return v
	}
	return os.Getenv(name)
}
