package blocks

import (
	"context"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/dbtest"
)

func importInto(t *testing.T, st *db.Store, set, file string) {
	t.Helper()
	createSet(t, st, set, 512)
	if _, err := Import(context.Background(), st, ImportRequest{Set: set, File: file}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSetOperations(t *testing.T) {
	st := dbtest.Open(t)
	importInto(t, st, "vx", "testdata/hashdb-export/export.json")
	importInto(t, st, "nsrl", "testdata/setops/whitelist.json")
	const (
		b000 = `{"block_hash":"000705ad8ec2c9547fae76574c0e4a94","k_entropy":8000,"block_label":"","source_sub_counts":["7745af74b0eb738194e1b7de02b30ea9",1]}`
		b1f0 = `{"block_hash":"1f0e3dad99908345f7439f8ffabdffc4","k_entropy":4500,"block_label":"RM","source_sub_counts":["2eb49744a835e4635f10e1aad261c16f",2,"7745af74b0eb738194e1b7de02b30ea9",1]}`
		b5d4 = `{"block_hash":"5d41402abc4b2a76b9719d911017c592","k_entropy":0,"block_label":"HM","source_sub_counts":["2eb49744a835e4635f10e1aad261c16f",65535]}`
		ba87 = `{"block_hash":"a87ff679a2f3e71d9181a67b7542122c","k_entropy":2176,"block_label":"W","source_sub_counts":["c4ca4238a0b923820dcc509a6f75849b",3]}`
		be4d = `{"block_hash":"e4da3b7fbbce2345d7772b0674a318d5","k_entropy":7992,"block_label":"","source_sub_counts":["2eb49744a835e4635f10e1aad261c16f",1,"7745af74b0eb738194e1b7de02b30ea9",4,"c4ca4238a0b923820dcc509a6f75849b",1]}`
		s2eb = `{"file_hash":"2eb49744a835e4635f10e1aad261c16f","filesize":65536,"file_type":"","zero_count":0,"nonprobative_count":2,"name_pairs":["NSRL","rand-65536.bin","corpusA","corpus/dup-of-rand-65536.bin","corpusA","corpus/rand-65536.bin"]}`
		s774 = `{"file_hash":"7745af74b0eb738194e1b7de02b30ea9","filesize":3072,"file_type":"","zero_count":1,"nonprobative_count":0,"name_pairs":["corpusA","dir with \"quotes\"\\back\tslash.bin","corpusB","\u0001ctl-\u001F.bin"]}`
		sc4c = `{"file_hash":"c4ca4238a0b923820dcc509a6f75849b","filesize":1536,"file_type":"","zero_count":0,"nonprobative_count":1,"name_pairs":["VxShare199","VirusShare_00199/VirusShare_ünïcode"]}`
		sfff = `{"file_hash":"ffffffffffffffffffffffffffffffff","filesize":512,"file_type":"","zero_count":0,"nonprobative_count":0,"name_pairs":["NSRL","os/kernel.img"]}`
	)
	for _, tc := range []struct {
		name string
		req  SetOpRequest
		want []string
	}{
		{"subtract", SetOpRequest{Op: OpSubtract, A: "vx", B: "nsrl", Dest: "c"}, []string{
			b000,
			`{"block_hash":"1f0e3dad99908345f7439f8ffabdffc4","k_entropy":4500,"block_label":"RM","source_sub_counts":["7745af74b0eb738194e1b7de02b30ea9",1]}`,
			b5d4, ba87, be4d, s2eb, s774, sc4c}},
		{"subtract-hash", SetOpRequest{Op: OpSubtract, A: "vx", B: "nsrl", Dest: "c", HashOnly: true}, []string{
			b000, b5d4, ba87, s2eb, s774, sc4c}},
		{"intersect", SetOpRequest{Op: OpIntersect, A: "vx", B: "nsrl", Dest: "c"}, []string{
			`{"block_hash":"1f0e3dad99908345f7439f8ffabdffc4","k_entropy":4500,"block_label":"RM","source_sub_counts":["2eb49744a835e4635f10e1aad261c16f",2]}`,
			s2eb}},
		{"intersect-hash", SetOpRequest{Op: OpIntersect, A: "vx", B: "nsrl", Dest: "c", HashOnly: true}, []string{
			b1f0,
			`{"block_hash":"e4da3b7fbbce2345d7772b0674a318d5","k_entropy":7992,"block_label":"","source_sub_counts":["2eb49744a835e4635f10e1aad261c16f",1,"7745af74b0eb738194e1b7de02b30ea9",4,"c4ca4238a0b923820dcc509a6f75849b",1,"ffffffffffffffffffffffffffffffff",1]}`,
			s2eb, s774, sc4c, sfff}},
		{"subtract-repository", SetOpRequest{Op: OpSubtractRepository, A: "vx", Repository: "corpusA", Dest: "c"}, []string{
			`{"block_hash":"000705ad8ec2c9547fae76574c0e4a94","k_entropy":8000,"block_label":"","source_sub_counts":["7745af74b0eb738194e1b7de02b30ea9",1]}`,
			`{"block_hash":"1f0e3dad99908345f7439f8ffabdffc4","k_entropy":4500,"block_label":"RM","source_sub_counts":["7745af74b0eb738194e1b7de02b30ea9",1]}`,
			ba87,
			`{"block_hash":"e4da3b7fbbce2345d7772b0674a318d5","k_entropy":7992,"block_label":"","source_sub_counts":["7745af74b0eb738194e1b7de02b30ea9",4,"c4ca4238a0b923820dcc509a6f75849b",1]}`,
			`{"file_hash":"7745af74b0eb738194e1b7de02b30ea9","filesize":3072,"file_type":"","zero_count":1,"nonprobative_count":0,"name_pairs":["corpusB","\u0001ctl-\u001F.bin"]}`,
			sc4c}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := SetOp(context.Background(), st, tc.req, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.TrimSuffix(string(exportBody(t, st, "c")), "\n")
			if want := strings.Join(tc.want, "\n"); got != want {
				t.Fatalf("%s:\n got %s\nwant %s", tc.name, got, want)
			}
			if res.Read != 5 {
				t.Errorf("read %d hashes, want 5", res.Read)
			}
		})
	}

	// add: vx into nsrl; nsrl's source 2eb4... is pre-existing, so vx's
	// pairs for it are not added (hashdb's rule).
	if _, err := SetOp(context.Background(), st, SetOpRequest{Op: OpAdd, A: "vx", B: "nsrl"}, nil); err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSuffix(string(exportBody(t, st, "nsrl")), "\n")
	want := strings.Join([]string{
		b000,
		`{"block_hash":"1f0e3dad99908345f7439f8ffabdffc4","k_entropy":4500,"block_label":"RM","source_sub_counts":["2eb49744a835e4635f10e1aad261c16f",1,"7745af74b0eb738194e1b7de02b30ea9",1]}`,
		ba87,
		`{"block_hash":"e4da3b7fbbce2345d7772b0674a318d5","k_entropy":7992,"block_label":"","source_sub_counts":["7745af74b0eb738194e1b7de02b30ea9",4,"c4ca4238a0b923820dcc509a6f75849b",1,"ffffffffffffffffffffffffffffffff",1]}`,
		`{"file_hash":"2eb49744a835e4635f10e1aad261c16f","filesize":65536,"file_type":"","zero_count":0,"nonprobative_count":2,"name_pairs":["NSRL","rand-65536.bin"]}`,
		s774, sc4c, sfff}, "\n")
	if got != want {
		t.Fatalf("add:\n got %s\nwant %s", got, want)
	}

	stats, err := SetStats(context.Background(), st, "vx", nil)
	if err != nil {
		t.Fatal(err)
	}
	// counts 1, 3, 65535, 3, 6
	if stats.Hashes != 5 || stats.Sources != 3 || stats.TotalHashes != 1+3+65535+3+6 || stats.Singletons != 1 || len(stats.Histogram) != 4 ||
		stats.Histogram[1] != (HistogramLine{Duplicates: 3, Hashes: 2, Total: 6}) || stats.Labels["RM"] != 1 {
		t.Errorf("stats %+v", stats)
	}
}
