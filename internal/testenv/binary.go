package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildFaasedge builds the faasedge command into a fresh temporary
// directory, for tests that run the binary as users do (call it from
// TestMain; remove dir when done): as make release does (ReleaseBuild)
// when release is set, else as make build does, keeping the source paths
// that `faasedge eval` finds the workloads' action sources by. The
// build's output goes to stderr.
func BuildFaasedge(release bool) (bin, dir string, err error) {
	if dir, err = os.MkdirTemp("", "faasedge-bin"); err != nil {
		return "", "", err
	}
	bin = filepath.Join(dir, "faasedge")
	const pkg = "github.com/faasedge/faasedge/cmd/faasedge"
	var out []byte
	if release {
		out, err = ReleaseBuild(bin, pkg)
	} else {
		out, err = exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	}
	if err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("testenv: building faasedge: %w", err)
	}
	return bin, dir, nil
}
