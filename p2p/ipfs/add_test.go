package ipfs

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/faasedge/faasedge/p2p"
)

// writeFixtures makes the test write the fixture byte files into a folder
// instead of testing, for testdata/kubo-cids.sh to feed them to Kubo.
var writeFixtures = flag.String("write-fixtures", "", "write the Kubo fixture inputs into this folder")

// fixtureInputs are the byte sequences whose Kubo CIDs are kept in
// testdata/kubo-cids.txt.
var fixtureInputs = map[string][]byte{
	"empty":      {},
	"text17":     []byte("hello, faasedge!\n"),
	"1MB":        patternBytes("", 1_000_000),
	"3x256KiB+1": patternBytes("", 3*ChunkSize+1),
}

type kuboCID struct {
	input      string
	cidVersion int
	cid        string
}

func readKuboCIDs(t *testing.T) []kuboCID {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "kubo-cids.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []kuboCID
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			t.Fatalf("kubo-cids.txt: bad line %q", line)
		}
		v, err := strconv.Atoi(fields[1])
		if err != nil {
			t.Fatalf("kubo-cids.txt: bad version in %q", line)
		}
		out = append(out, kuboCID{input: fields[0], cidVersion: v, cid: fields[2]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAddMatchesKubo(t *testing.T) {
	if *writeFixtures != "" {
		for name, b := range fixtureInputs {
			if err := os.WriteFile(filepath.Join(*writeFixtures, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.CopyFS(filepath.Join(*writeFixtures, "tree"), fixtureTree); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := len(fixtureInputs["text17"]); got != 17 {
		t.Fatalf("text17 is %d bytes", got)
	}
	fixtures := readKuboCIDs(t)
	if len(fixtures) != 2*(len(fixtureInputs)+1) {
		t.Fatalf("kubo-cids.txt has %d CIDs, want both versions of %d inputs and the tree", len(fixtures), len(fixtureInputs))
	}
	n := newNode(t, p2p.Config{})
	ctx := testCtx(t)
	for _, fx := range fixtures {
		t.Run(fx.input+"/v"+strconv.Itoa(fx.cidVersion), func(t *testing.T) {
			if fx.input == "tree" {
				c, err := n.AddFS(ctx, fixtureTree, ".", fx.cidVersion)
				if err != nil {
					t.Fatal(err)
				}
				if c.String() != fx.cid {
					t.Fatalf("directory CID %s, Kubo's `add -r` gives %s", c, fx.cid)
				}
				return
			}
			in, ok := fixtureInputs[fx.input]
			if !ok {
				t.Fatalf("no input %q", fx.input)
			}
			c, err := n.Add(ctx, bytes.NewReader(in), fx.cidVersion)
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != fx.cid {
				t.Fatalf("CID %s, Kubo gives %s", c, fx.cid)
			}
			got, err := n.Fetch(ctx, Scheme+c.String())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, in) {
				t.Fatalf("read back %d bytes, added %d", len(got), len(in))
			}
		})
	}
}

func TestAddRefusesUnknownCIDVersion(t *testing.T) {
	n := newNode(t, p2p.Config{})
	for _, v := range []int{-1, 2} {
		if _, err := n.Add(testCtx(t), strings.NewReader("x"), v); err == nil || !strings.Contains(err.Error(), "want 0 or 1") {
			t.Errorf("version %d: err = %v", v, err)
		}
	}
	pins, err := n.Pins(testCtx(t))
	if err != nil || len(pins) != 0 {
		t.Fatalf("refused add left pins %v (err %v)", pins, err)
	}
}
