// Package faasedge holds the sources that `faasedge new` writes into a new
// action project: the Go SDK (packages action and action/actionhttp) and
// the sample actions of examples/, one per language.
package faasedge

import "embed"

// Sources are the SDK's and the examples' files, at their paths in this
// module (test files included; writers leave them out).
//
//go:embed action/*.go action/actionhttp/*.go examples/hello/main.go examples/c/faasedge.h examples/c/fetch.c examples/rust/faasedge.rs examples/rust/fetch.rs
var Sources embed.FS
