package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	faasedgesrc "github.com/faasedge/faasedge"
)

// validName is what an action name, a file name and a Go module path all
// accept.
var validName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// project is one language's template: the files it writes, from the
// embedded sources, renamed and with the sample's name replaced.
type project struct {
	files    map[string]string // written name ("" + ext means NAME + ext) -> source path
	replacer func(name string) *strings.Replacer
	makefile string // with NAME for the name
}

var projects = map[string]project{
	"go": {
		files: map[string]string{"main.go": "examples/hello/main.go"},
		replacer: func(name string) *strings.Replacer {
			return strings.NewReplacer("Command hello", "Command "+name, "hello.wasm", name+".wasm",
				"create hello", "create "+name, "invoke hello", "invoke "+name, " ./examples/hello", " .")
		},
		makefile: `# NAME: a FaaS@Edge action (kind wasm:wasip1) written with the Go SDK.
# make builds a reactor (kept warm across activations); drop
# -buildmode=c-shared for a command module. make deploy needs wsk.
NAME.wasm: main.go
	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o NAME.wasm .

deploy: NAME.wasm
	wsk action update NAME NAME.wasm --kind wasm:wasip1
`,
	},
	"c": {
		files: map[string]string{".c": "examples/c/fetch.c", "faasedge.h": "examples/c/faasedge.h"},
		replacer: func(name string) *strings.Replacer {
			return strings.NewReplacer("fetch is a", name+" is a", "fetch.wasm", name+".wasm", "fetch.c", name+".c", "create fetch", "create "+name)
		},
		makefile: `# NAME: a FaaS@Edge action (kind wasm:wasip1) in C, calling the host's
# outbound HTTP through faasedge.h. Needs clang and wasi-libc (Debian:
# clang lld wasi-libc). make deploy needs wsk; set the hosts it may call.
HOSTS ?= ["example.com"]

NAME.wasm: NAME.c faasedge.h
	clang --target=wasm32-wasi -O2 -Wall -o NAME.wasm NAME.c

deploy: NAME.wasm
	wsk action update NAME NAME.wasm --kind wasm:wasip1 -a faasedge-allowed-hosts '$(HOSTS)'
`,
	},
	"rust": {
		files: map[string]string{".rs": "examples/rust/fetch.rs", "faasedge.rs": "examples/rust/faasedge.rs"},
		replacer: func(name string) *strings.Replacer {
			return strings.NewReplacer("fetch is a", name+" is a", "fetch.wasm", name+".wasm", "fetch.rs", name+".rs", "create fetch", "create "+name)
		},
		makefile: `# NAME: a FaaS@Edge action (kind wasm:wasip1) in Rust, a reactor calling
# the host's outbound HTTP through the faasedge crate. Needs a rustc with
# the wasm32-wasi target (Debian: rustc libstd-rust-dev-wasm32). make
# deploy needs wsk; set the hosts it may call.
RUSTC ?= rustc
RUSTFLAGS := --edition 2021 --target wasm32-wasi -O -C strip=debuginfo
HOSTS ?= ["example.com"]

NAME.wasm: NAME.rs libfaasedge.rlib
	$(RUSTC) $(RUSTFLAGS) --crate-type cdylib --extern faasedge=libfaasedge.rlib -o NAME.wasm NAME.rs

libfaasedge.rlib: faasedge.rs
	$(RUSTC) $(RUSTFLAGS) --crate-type rlib -o libfaasedge.rlib faasedge.rs

deploy: NAME.wasm
	wsk action update NAME NAME.wasm --kind wasm:wasip1 -a faasedge-allowed-hosts '$(HOSTS)'
`,
	},
}

const newUsage = "usage: faasedge new NAME [--lang go|rust|c] [--dir DIR]"

// newOptions write a project.
type newOptions struct{ lang, dir string }

func (o *newOptions) run(_ context.Context, pos []string, stdout, _ io.Writer) error {
	var name string
	if len(pos) == 1 {
		name = pos[0]
	}
	p, ok := projects[o.lang]
	switch {
	case len(pos) > 1:
		return fmt.Errorf("%w: want one NAME, got %d arguments", errUsage, len(pos))
	case !validName.MatchString(name):
		return fmt.Errorf("%w: NAME %q: want a letter, then letters, digits, _ or -", errUsage, name)
	case !ok:
		return fmt.Errorf("%w: --lang %q: want go, rust or c", errUsage, o.lang)
	}
	if o.dir == "" {
		o.dir = name
	}
	if entries, err := os.ReadDir(o.dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("new: %s exists and is not empty", o.dir)
	}
	files := map[string][]byte{"Makefile": []byte(strings.ReplaceAll(p.makefile, "NAME", name))}
	r := p.replacer(name)
	for out, src := range p.files {
		b, err := fs.ReadFile(faasedgesrc.Sources, src)
		if err != nil {
			return err
		}
		if strings.HasPrefix(out, ".") {
			out = name + out
		}
		files[out] = []byte(r.Replace(string(b)))
	}
	if o.lang == "go" {
		if err := addGoSDK(files, name); err != nil {
			return err
		}
	}
	for rel, b := range files {
		path := filepath.Join(o.dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("new: %w", err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("new: %w", err)
		}
	}
	fmt.Fprintf(stdout, "Wrote %s (%s). Build and deploy it:\n\n  cd %s\n  make          # builds %s.wasm\n  make deploy   # wsk action update %s %s.wasm --kind wasm:wasip1\n  wsk action invoke %s -r -p name World\n",
		o.dir, o.lang, o.dir, name, name, name, name)
	return nil
}

// sdkDir is where a Go project keeps its copy of the SDK: a module of its
// own that go.mod replaces github.com/faasedge/faasedge with, so the
// project builds offline with the SDK of this binary's version.
const sdkDir = "faasedge-sdk"

func addGoSDK(files map[string][]byte, name string) error {
	goVersion := strings.TrimPrefix(runtime.Version(), "go")
	if v := strings.Split(goVersion, "."); len(v) >= 2 {
		goVersion = v[0] + "." + v[1]
	}
	files["go.mod"] = fmt.Appendf(nil, "module %s\n\ngo %s\n\nrequire github.com/faasedge/faasedge v0.0.0\n\nreplace github.com/faasedge/faasedge => ./%s\n", name, goVersion, sdkDir)
	files[sdkDir+"/go.mod"] = fmt.Appendf(nil, "module github.com/faasedge/faasedge\n\ngo %s\n", goVersion)
	return fs.WalkDir(faasedgesrc.Sources, "action", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := fs.ReadFile(faasedgesrc.Sources, p)
		files[path.Join(sdkDir, p)] = b
		return err
	})
}
