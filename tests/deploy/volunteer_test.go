package deploy

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The README's volunteer one-liner runs scripts/install-node.sh from a
// release. Here the release is a directory (file://) and the target a
// system image root (--root), since systemd is not PID 1 in the test; the
// unit is checked by systemd-analyze and enabled by systemctl --root.
func TestInstallNode(t *testing.T) {
	for _, tool := range []string{"curl", "sha256sum", "systemctl", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (run `make deps`): %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	release := t.TempDir()
	bin := buildRelease(ctx, t, release)
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sums := fmt.Sprintf("%x  %s\n", sha256.Sum256(b), filepath.Base(bin))
	if err := os.WriteFile(filepath.Join(release, "SHA256SUMS"), []byte(sums), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join(repoRoot, "scripts", "install-node.sh"))
	if err != nil {
		t.Fatal(err)
	}
	install := func(rel, root string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "sh", append([]string{script, "--root", root, "--arch", goArch()}, args...)...)
		cmd.Env = append(os.Environ(), "FAASEDGE_RELEASE=file://"+rel)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	root := t.TempDir()
	peer := "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
	if out, err := install(release, root, "--memory", "512", "--peer", peer); err != nil {
		t.Fatalf("install-node.sh: %v\n%s", err, out)
	}
	installed := filepath.Join(root, "usr", "local", "bin", "faasedge")
	if v, err := exec.CommandContext(ctx, installed, "version").Output(); err != nil || !strings.HasPrefix(string(v), "faasedge ") {
		t.Errorf("installed binary does not run: %v %q", err, v)
	}
	unit := filepath.Join(root, "etc", "systemd", "system", "faasedge-node.service")
	u, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	want := "ExecStart=/usr/local/bin/faasedge node --data-dir /var/lib/faasedge --listen /ip4/0.0.0.0/tcp/4001 --memory 512 --peer " + peer + "\n"
	if !strings.Contains(string(u), want) {
		t.Errorf("unit lacks %q:\n%s", want, u)
	}
	// Verified against this machine's units, with ExecStart at the image's
	// binary (systemd-analyze checks it exists).
	check := filepath.Join(t.TempDir(), "faasedge-node.service")
	if err := os.WriteFile(check, []byte(strings.Replace(string(u), "ExecStart=/usr/local/bin/faasedge ", "ExecStart="+installed+" ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.CommandContext(ctx, "systemd-analyze", "verify", "--man=no", check).CombinedOutput(); err != nil || len(msg) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, msg)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc", "systemd", "system", "multi-user.target.wants", "faasedge-node.service")); err != nil {
		t.Errorf("unit not enabled: %v", err)
	}

	t.Run("tampered binary", func(t *testing.T) {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, filepath.Base(bin)), append(b[:len(b):len(b)], 0), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bad, "SHA256SUMS"), []byte(sums), 0o644); err != nil {
			t.Fatal(err)
		}
		root := t.TempDir()
		out, err := install(bad, root)
		if err == nil || !strings.Contains(out, "does not match its SHA256SUMS entry") {
			t.Errorf("a binary that does not match SHA256SUMS was accepted: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(root, "usr", "local", "bin", "faasedge")); err == nil {
			t.Error("the tampered binary was installed")
		}
	})
	t.Run("argument needing quoting", func(t *testing.T) {
		out, err := install(release, t.TempDir(), "--memory", "512; rm -rf /")
		if err == nil || !strings.Contains(out, "only letters, digits") {
			t.Errorf("an argument with ';' and spaces was accepted: %v\n%s", err, out)
		}
	})
}

// goArch is install-node.sh's name for this machine's architecture.
func goArch() string {
	if runtime.GOARCH == "arm" {
		return "armv7"
	}
	return runtime.GOARCH
}
