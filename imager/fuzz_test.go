package imager

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzParseBlockName(f *testing.F) {
	f.Add("0000000042_snap-056e0b1bd07ad91b2_9453191189aee79b8bf1695b11c881bd47448bbe03076e6ae02f664860d90811_8_524288")
	f.Add("0000000042_snap-0_9453191189aee79b8bf1695b11c881bd47448bbe03076e6ae02f664860d90811_8_524288.gz.age")
	f.Add("42_snap_x_8_524288")
	f.Fuzz(func(t *testing.T, name string) {
		b, err := ParseBlockName(name)
		if err != nil {
			return
		}
		// A parsed name formats back to itself.
		if got := BlockName(b.Index, b.Snapshot, b.SHA256, b.VolumeGiB, b.BlockSize) + blockExt(b.Gzip, b.Age); got != name {
			t.Fatalf("%q parsed and formatted to %q", name, got)
		}
	})
}

func FuzzManifestHeader(f *testing.F) {
	f.Add(string(Geometry{Snapshot: "snap-1", VolumeGiB: 8, BlockSize: 524288, Layout: "raw"}.header()))
	f.Add("matchmeta-ebs-manifest 1 snapshot=s volume_gib=-1 block_size=0 layout=x")
	f.Fuzz(func(t *testing.T, h string) {
		g, err := parseHeader([]byte(h))
		if err != nil {
			return
		}
		g2, err := parseHeader(g.header())
		if err != nil || g2 != g {
			t.Fatalf("header of %+v reparsed as %+v, %v", g, g2, err)
		}
	})
}

func FuzzReadReport(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "report", ReportJSON+".golden"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"snapshot":"s","block_size":1,"volume_size_gib":1,"blocks":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "r.json")
		os.WriteFile(p, data, 0o644)
		r, err := ReadReport(p, func(BlockSum) error { return nil })
		if err == nil && (r.Snapshot == "" || r.BlockSize <= 0) {
			t.Fatalf("accepted a report without its geometry: %+v", r)
		}
	})
}
