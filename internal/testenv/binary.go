package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// FaasedgeMain is the TestMain of a package whose tests run the faasedge
// command as users do: it builds the command into a fresh temporary
// directory, sets *bin to its path, runs the tests, removes the build and
// exits with the tests' code. The build is as make release does
// (ReleaseBuild) when release is set, else as make build does, keeping the
// source paths that `faasedge eval` finds the workloads' action sources
// by; its output goes to stderr.
func FaasedgeMain(m *testing.M, release bool, bin *string) {
	dir, err := os.MkdirTemp("", "faasedge-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, "faasedge")
	const pkg = "github.com/faasedge/faasedge/cmd/faasedge"
	var out []byte
	if release {
		out, err = ReleaseBuild(*bin, pkg)
	} else {
		out, err = exec.Command("go", "build", "-o", *bin, pkg).CombinedOutput()
	}
	if err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		fmt.Fprintf(os.Stderr, "testenv: building faasedge: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
