package whisk

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// ByteSize is OpenWhisk's size type. On the wire it is "<n> <unit>"; the
// stock invoker writes its user memory in bytes ("2147483648 B").
type ByteSize int64

const (
	KB ByteSize = 1 << 10
	MB ByteSize = 1 << 20
	GB ByteSize = 1 << 30
)

// String is the form the stock invoker sends: whole bytes.
func (s ByteSize) String() string { return strconv.FormatInt(int64(s), 10) + " B" }

// MB is the size in whole megabytes.
func (s ByteSize) MB() int64 { return int64(s / MB) }

var byteSizeRE = regexp.MustCompile(`(?i)^\s?(\d+)\s?(GB|MB|KB|B|G|M|K)\s?$`)

// ParseByteSize reads the wire form with ByteSize.fromString's rules: units
// are powers of 1024 and case-insensitive.
func ParseByteSize(s string) (ByteSize, error) {
	m := byteSizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("whisk: invalid byte size %q", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("whisk: invalid byte size %q: %w", s, err)
	}
	mult := int64(1)
	switch strings.ToUpper(m[2][:1]) {
	case "G":
		mult = int64(GB)
	case "M":
		mult = int64(MB)
	case "K":
		mult = int64(KB)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("whisk: byte size %q out of range", s)
	}
	return ByteSize(n * mult), nil
}

// ParseConfigSize reads a size as OpenWhisk's configuration gives it
// (CONFIG_whisk_containerPool_userMemory=2048m): HOCON size syntax, where
// single-letter and binary units are powers of 1024 and "kB"/"MB"/"GB" are
// powers of 1000.
func ParseConfigSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid size %q: no number", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", s, err)
	}
	unit := strings.TrimSpace(t[i:])
	mult, ok := configUnits[unit]
	if !ok {
		mult, ok = configUnits[strings.ToLower(unit)]
	}
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q", s, unit)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q: out of range", s)
	}
	return ByteSize(n * mult), nil
}

var configUnits = map[string]int64{
	"": 1, "b": 1, "byte": 1, "bytes": 1,
	"k": 1 << 10, "ki": 1 << 10, "kib": 1 << 10, "kibibyte": 1 << 10, "kibibytes": 1 << 10,
	"m": 1 << 20, "mi": 1 << 20, "mib": 1 << 20, "mebibyte": 1 << 20, "mebibytes": 1 << 20,
	"g": 1 << 30, "gi": 1 << 30, "gib": 1 << 30, "gibibyte": 1 << 30, "gibibytes": 1 << 30,
	"kB": 1e3, "kilobyte": 1e3, "kilobytes": 1e3,
	"MB": 1e6, "megabyte": 1e6, "megabytes": 1e6,
	"GB": 1e9, "gigabyte": 1e9, "gigabytes": 1e9,
}

func (s ByteSize) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

func (s *ByteSize) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("whisk: byte size: %w", err)
	}
	v, err := ParseByteSize(str)
	if err != nil {
		return err
	}
	*s = v
	return nil
}
