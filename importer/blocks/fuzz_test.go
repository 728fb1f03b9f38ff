package blocks

import (
	"bytes"
	"os"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

func seedLines(f *testing.F, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		f.Add(l)
	}
}

// FuzzJSONLine: any line parses or fails cleanly, and a parsed block or
// source line written back in hashdb's form parses to the same values.
func FuzzJSONLine(f *testing.F) {
	seedLines(f, "testdata/hashdb-export/export.json")
	seedLines(f, "testdata/json-bad/bad.json")
	f.Add([]byte(`{"block_hash":"000705ad8ec2c9547fae76574c0e4a94","source_sub_counts":["7745af74b0eb738194e1b7de02b30ea9",1,"x"],"k_entropy":1e3}`))
	f.Add([]byte(`{"file_hash":"7745af74b0eb738194e1b7de02b30ea9","filesize":1,"name_pairs":["a\ud83d\ude00","\u00e9"]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var l jsonLine
		if err := l.parse(line); err != nil {
			return
		}
		var out []byte
		if l.isBlock {
			var files [][16]byte
			var srcs []db.SourceCount
			for i, p := range l.pairs {
				files = append(files, p.file)
				srcs = append(srcs, db.SourceCount{Source: uint32(i), Count: uint32(min(p.count, db.MaxSubCount))})
			}
			out = AppendBlockJSON(nil, l.block[:], l.entropy, string(l.label), srcs, files)
		} else {
			src := &db.Source{FileHash: l.file, Size: l.size, Type: string(l.ftype), Zero: l.zero, Nonprob: l.nonprob}
			for i := 0; i+1 < len(l.names); i += 2 {
				src.Names = append(src.Names, db.NamePair{Repository: string(l.names[i]), Name: string(l.names[i+1])})
			}
			out = AppendSourceJSON(nil, src)
		}
		var again jsonLine
		if err := again.parse(out); err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if again.isBlock != l.isBlock || again.block != l.block || again.entropy != l.entropy || !bytes.Equal(again.label, l.label) ||
			again.file != l.file || again.size != l.size || len(again.names) != len(l.names) {
			t.Fatalf("round trip changed %s -> %s", line, out)
		}
		for i := range l.names {
			if !bytes.Equal(again.names[i], l.names[i]) {
				t.Fatalf("name %d: %q -> %q", i, l.names[i], again.names[i])
			}
		}
	})
}

// FuzzDFXML: any document parses or fails with an error, never panics.
func FuzzDFXML(f *testing.F) {
	b, err := os.ReadFile("testdata/dfxml/md5deep-p512.xml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("<dfxml><fileobject><filename>x</filename><byte_run len='512'><hashdigest>00</hashdigest></byte_run></fileobject></dfxml>"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		parseDFXML(bytes.NewReader(doc), 512, func(int, error) error { return nil }, func(int) {}, func(o *dfxmlObject) error {
			for _, r := range o.runs {
				_ = r.block
			}
			return nil
		})
	})
}

// FuzzFindMembers: carving gzip and zip members out of arbitrary bytes
// stays within bounds and limits.
func FuzzFindMembers(f *testing.F) {
	b, err := os.ReadFile("testdata/members/mixed.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00a\x03\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		findMembers(data, len(data), func(m member) bool {
			out := inflate(m.r, nil, 1<<20)
			if len(out) > 1<<20 {
				t.Fatalf("inflate gave %d bytes over its limit", len(out))
			}
			n++
			return n < 64
		})
	})
}

// FuzzDetectFormat never panics and only names known formats.
func FuzzDetectFormat(f *testing.F) {
	f.Add([]byte("# c\n{\"block_hash\":1}"))
	f.Add([]byte("<?xml?>"))
	f.Add([]byte("a\tb\tc"))
	f.Fuzz(func(t *testing.T, head []byte) {
		got, err := DetectFormat(head)
		if err == nil && got != FormatJSON && got != FormatTab && got != FormatDFXML {
			t.Fatalf("format %q", got)
		}
	})
}
