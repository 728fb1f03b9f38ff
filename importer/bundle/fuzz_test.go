package bundle

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"aead.dev/minisign"

	"github.com/matchmeta/matchmeta/db"
)

// seeds adds every file of testdata/DIR to the corpus.
func seeds(f *testing.F, dir string) {
	names, _ := filepath.Glob(filepath.Join("testdata", dir, "*"))
	if len(names) == 0 {
		f.Fatalf("no seeds in testdata/%s", dir)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzManifest(f *testing.F) {
	seeds(f, "manifest")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		// What parses must validate, encode and parse back alike.
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("parsed manifest does not marshal: %v", err)
		}
		m2, err := ParseManifest(out)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		if m2.ID != m.ID || m2.Sequence != m.Sequence || len(m2.Datasets) != len(m.Datasets) {
			t.Fatalf("round trip changed the manifest")
		}
	})
}

// FuzzUnpack feeds arbitrary bytes as a bundle file: it must never panic,
// and whatever it refuses leaves the extraction directory empty.
func FuzzUnpack(f *testing.F) {
	seeds(f, "bundles")
	trustDir := filepath.Join("testdata", "trust")
	f.Fuzz(func(t *testing.T, b []byte) {
		trust, err := LoadTrust(trustDir, nil)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		p := filepath.Join(dir, "f.mmbundle")
		os.WriteFile(p, b, 0o600)
		out := filepath.Join(dir, "out")
		os.Mkdir(out, 0o700)
		_, err = Unpack(context.Background(), p, out, Options{Trust: trust, InsecureUnsigned: true, Limits: Limits{MaxEntries: 64, MaxBytes: 1 << 20}})
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Fatalf("refused (%v) but left %d files", err, len(ents))
			}
		}
	})
}

func FuzzSignature(f *testing.F) {
	seeds(f, "sig")
	msg := []byte("manifest")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSignature(b)
		if err == nil {
			if _, err := s.MarshalText(); err != nil {
				t.Fatalf("parsed signature does not marshal: %v", err)
			}
		}
		trust, _ := LoadTrust(filepath.Join("testdata", "trust"), nil)
		if _, err := trust.Verify(msg, b); err == nil {
			// Only the real signature of msg by the test key verifies.
			var want minisign.Signature
			if want.UnmarshalText(b) != nil {
				t.Fatal("verified an unparsable signature")
			}
		}
		ParsePublicKey(b)
	})
}

// FuzzDeltaLines: any delta or records file is read or refused without a
// panic, and every record read writes back to a line that reads the same.
func FuzzDeltaLines(f *testing.F) {
	f.Add([]byte("+" + strings.Repeat("ab", 16) + "\t{\"file_name\":\"a.dll\",\"file_size\":3,\"packages\":[{\"key\":\"1\",\"id\":\"1\",\"name\":\"p\"}]}\n-" + strings.Repeat("cd", 16) + "\n"))
	f.Add([]byte(strings.Repeat("ab", 16) + "\t{\"file_name_hex\":\"E9\",\"sha1\":\"" + strings.Repeat("11", 20) + "\"}\n# c\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(op DeltaOp) error {
			if op.Record == nil {
				return nil
			}
			pkgs := map[string]db.Package{}
			for _, p := range op.Packages {
				pkgs[p.Key] = p
			}
			line := RecordLine(nil, *op.Record, pkgs)
			again, _, err := ParseRecord(line[1:])
			if err != nil || !reflect.DeepEqual(again, *op.Record) {
				t.Fatalf("record %+v wrote %s, read back %+v (%v)", op.Record, line, again, err)
			}
			return nil
		}
		ReadDelta(bytes.NewReader(b), "d", 16, check)
		ReadRecords(bytes.NewReader(b), "r", 16, check)
	})
}
