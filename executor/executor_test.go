package executor

import (
	"context"
	"testing"

	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/whisk"
)

func newExecutor(t testing.TB, opts ...Option) *Executor {
	t.Helper()
	e, err := New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func TestSmoke(t *testing.T) {
	e := newExecutor(t)
	for _, code := range [][]byte{wasmtest.WATModule(t, "echo"), wasmtest.GoCommand(t, "echo"), wasmtest.GoReactor(t, "reactor")} {
		a := &Action{Name: "echo", Namespace: "guest", Code: code, Limits: whisk.DefaultLimits()}
		for i := 0; i < 2; i++ {
			res := e.Run(context.Background(), a, Activation{Value: []byte(`{"log":"hi","a":1}`)})
			t.Logf("%+v %s %q", res, res.Response.Result, res.Logs)
		}
	}
}
