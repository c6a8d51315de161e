package controller

import (
	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// Precompiler compiles an action's module ahead of its first run
// (executor.Executor does). Config.Precompiler has new wasm code compiled
// as soon as an action PUT has stored it, so that the first invoke does
// not wait seconds for a large module to compile. Stock OpenWhisk has no
// such step: its first invoke pays for starting a container instead.
type Precompiler interface {
	Precompile(a *activation.Action) bool
}

// precompile hands a's new code (as the API shows it: base64 of binary
// code, or ipfs://<CID>) to the Precompiler, keyed by the attachment's
// digest as the invokers key the compiled module, so that their first run
// finds it.
func (c *Controller) precompile(a *storedAction, code string) {
	if c.cfg.Precompiler == nil || a.Exec.Kind != whisk.KindWasm {
		return
	}
	act := &activation.Action{Code: activation.ParseCode([]byte(code), a.Exec.Binary), Main: a.Exec.Main, Limits: a.Limits}
	if att, ok := a.Exec.CodeAttachment(); ok && act.Code.CID == "" {
		act.Code.Digest = att.Digest
	}
	c.cfg.Precompiler.Precompile(act)
}
