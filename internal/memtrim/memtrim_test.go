package memtrim

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTrimmable: of the binary's mappings, the read-only ones with
// resident pages of the file's own are trimmed; its writable data, a
// read-only mapping holding anonymous pages (RELRO), one with nothing
// resident, other files and a same inode on another device are not.
func TestTrimmable(t *testing.T) {
	smaps, err := os.ReadFile("testdata/smaps")
	if err != nil {
		t.Fatal(err)
	}
	got := trimmable(smaps, 0xfd, 0, 1234)
	want := []mapping{
		{start: 0x400000, end: 0x22d8000, rss: 10048 << 10},
		{start: 0x22d8000, end: 0x46d0000, rss: 20064 << 10},
	}
	if len(got) != len(want) {
		t.Fatalf("trimmable %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// residentExe is how many bytes of this test binary's read-only mappings
// are resident.
func residentExe(t *testing.T) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		t.Fatal(err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, m := range exeMappings(smaps, unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino) {
		n += m.rss
	}
	return n
}

// TestTrim unmaps the running test binary's code and read-only data: what
// was resident is reported, less is resident after, and the process runs on
// (the code it needs faults back in).
func TestTrim(t *testing.T) {
	before := residentExe(t)
	if before == 0 {
		t.Fatal("no resident page of the test binary")
	}
	n, err := Trim()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("Trim reported nothing trimmed; %d bytes were resident", before)
	}
	if after := residentExe(t); after >= before {
		t.Errorf("resident bytes of the binary: %d before, %d after", before, after)
	}
	// Running on after the trim, through code and data start-up used.
	if _, err := Trim(); err != nil {
		t.Fatal(err)
	}
}
