package netwatch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/matchmeta/matchmeta/db"
)

//go:generate go run ./internal/genoui --dir /usr/share/ieee-data --out oui.tsv.gz

// VendorDirs are where Debian's ieee-data package puts the IEEE registry
// CSVs; the first one holding them is read.
var VendorDirs = []string{"/usr/share/ieee-data", "/var/lib/ieee-data"}

// Vendor names for addresses that have no registrant.
const (
	VendorUnknown = "(Unknown)"
	VendorLocal   = "(locally administered)"
)

// The IEEE registries as Debian ships them: file, registry column value and
// prefix length in hex digits. MA-S (oui36) and IAB blocks are 36-bit,
// MA-M 28-bit, MA-L 24-bit.
var registries = []struct {
	file     string
	registry string
	digits   int
}{
	{"oui36.csv", "MA-S", 9},
	{"iab.csv", "IAB", 9},
	{"mam.csv", "MA-M", 7},
	{"oui.csv", "MA-L", 6},
}

// prefixLens are the match lengths, longest first.
var prefixLens = [3]int{9, 7, 6}

func lenIndex(digits int) int {
	switch digits {
	case 9:
		return 0
	case 7:
		return 1
	case 6:
		return 2
	}
	return -1
}

// Vendors maps MAC prefixes to IEEE registrants, matching the longest
// registered prefix first (9, then 7, then 6 hex digits).
type Vendors struct {
	byLen [3]map[uint64]string
	// Source says where the table came from: a directory or "embedded".
	Source string
}

func newVendors(source string) *Vendors {
	v := &Vendors{Source: source}
	for i := range v.byLen {
		v.byLen[i] = map[uint64]string{}
	}
	return v
}

// Len is the number of prefixes.
func (v *Vendors) Len() int { return len(v.byLen[0]) + len(v.byLen[1]) + len(v.byLen[2]) }

// prefixOf is the first digits hex digits of mac as a number.
func prefixOf(mac db.MAC, digits int) uint64 {
	var n uint64
	for _, b := range mac[:5] {
		n = n<<8 | uint64(b)
	}
	return n >> (40 - 4*digits)
}

// Lookup names the registrant of mac's longest registered prefix.
// Locally administered addresses (bit 1 of the first octet) are never
// registered and say so.
func (v *Vendors) Lookup(mac db.MAC) string {
	if mac[0]&0x02 != 0 {
		return VendorLocal
	}
	if v != nil {
		for i, d := range prefixLens {
			if name, ok := v.byLen[i][prefixOf(mac, d)]; ok {
				return name
			}
		}
	}
	return VendorUnknown
}

func (v *Vendors) add(digits int, prefix uint64, name string) {
	i := lenIndex(digits)
	// The first registrant listed wins, so a table read back equals the
	// CSVs it came from whatever the order.
	if _, dup := v.byLen[i][prefix]; !dup {
		v.byLen[i][prefix] = name
	}
}

// cleanName keeps a registrant name on one line with single spaces.
func cleanName(s string) string { return strings.Join(strings.Fields(s), " ") }

// LoadVendorDir reads the four IEEE registry CSVs of Debian's ieee-data
// from dir. Every file must be present and well formed; errors name the
// file, line and field.
func LoadVendorDir(dir string) (*Vendors, error) {
	v := newVendors(dir)
	for _, r := range registries {
		path := filepath.Join(dir, r.file)
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("netwatch: vendors: %w", err)
		}
		err = readRegistryCSV(f, path, r.registry, r.digits, v)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return v, nil
}

func readRegistryCSV(rd io.Reader, path, registry string, digits int, v *Vendors) error {
	cr := csv.NewReader(bufio.NewReader(rd))
	cr.FieldsPerRecord = 4
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return fmt.Errorf("netwatch: vendors: %s line 1: %w", path, err)
	}
	if len(head) < 3 || head[0] != "Registry" || head[1] != "Assignment" || head[2] != "Organization Name" {
		//lint:ignore ST1005 the message ends with the CSV header it wants, "..." included
		return fmt.Errorf("netwatch: vendors: %s line 1: header %q is not Registry,Assignment,Organization Name,...", path, strings.Join(head, ","))
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return fmt.Errorf("netwatch: vendors: %s: %w", path, err)
		}
		if rec[0] != registry {
			return fmt.Errorf("netwatch: vendors: %s line %d: registry %q, want %s", path, line, rec[0], registry)
		}
		if len(rec[1]) != digits {
			return fmt.Errorf("netwatch: vendors: %s line %d: assignment %q: want %d hex digits", path, line, rec[1], digits)
		}
		p, err := strconv.ParseUint(rec[1], 16, 64)
		if err != nil {
			return fmt.Errorf("netwatch: vendors: %s line %d: assignment %q: not hex", path, line, rec[1])
		}
		name := cleanName(rec[2])
		if name == "" {
			return fmt.Errorf("netwatch: vendors: %s line %d: empty organization name", path, line)
		}
		v.add(digits, p, name)
	}
}

// WriteTable writes the table in its embedded form: one "PREFIX\tNAME"
// line per prefix (upper-case hex, 6, 7 or 9 digits), sorted.
func (v *Vendors) WriteTable(w io.Writer) error {
	lines := make([]string, 0, v.Len())
	for i, d := range prefixLens {
		for p, name := range v.byLen[i] {
			lines = append(lines, fmt.Sprintf("%0*X\t%s\n", d, p, name))
		}
	}
	sort.Strings(lines)
	bw := bufio.NewWriter(w)
	for _, l := range lines {
		if _, err := bw.WriteString(l); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteTableGzip writes the table gzip-compressed, with no name or time in
// the header so the same input gives the same bytes.
func (v *Vendors) WriteTableGzip(w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := v.WriteTable(zw); err != nil {
		return err
	}
	return zw.Close()
}

// ReadTable reads what WriteTable wrote.
func ReadTable(r io.Reader, source string) (*Vendors, error) {
	v := newVendors(source)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		hexp, name, ok := strings.Cut(sc.Text(), "\t")
		if !ok || lenIndex(len(hexp)) < 0 || name == "" {
			return nil, fmt.Errorf("netwatch: vendors: %s line %d: want PREFIX<tab>NAME with a 6, 7 or 9 digit prefix", source, n)
		}
		p, err := strconv.ParseUint(hexp, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("netwatch: vendors: %s line %d: prefix %q: not hex", source, n, hexp)
		}
		v.add(len(hexp), p, name)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("netwatch: vendors: %s: %w", source, err)
	}
	return v, nil
}

//go:embed oui.tsv.gz
var embeddedTable []byte

var embedded struct {
	once sync.Once
	v    *Vendors
	err  error
}

// EmbeddedVendors is the table built into the binary (generated from
// ieee-data by go generate; see internal/genoui).
func EmbeddedVendors() (*Vendors, error) {
	embedded.once.Do(func() {
		zr, err := gzip.NewReader(bytes.NewReader(embeddedTable))
		if err != nil {
			embedded.err = fmt.Errorf("netwatch: vendors: embedded table: %w", err)
			return
		}
		embedded.v, embedded.err = ReadTable(zr, "embedded")
	})
	return embedded.v, embedded.err
}

// LoadVendors reads the CSVs of the first of dirs that has them (nil:
// VendorDirs) and falls back to the embedded table when none does. A
// directory whose CSVs are present but broken is an error, not a silent
// fallback.
func LoadVendors(dirs []string) (*Vendors, error) {
	if dirs == nil {
		dirs = VendorDirs
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "oui.csv")); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return LoadVendorDir(d)
	}
	return EmbeddedVendors()
}
