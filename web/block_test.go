package web

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

func TestAPIBlock(t *testing.T) {
	st := fixtureStore(t)
	ctx := context.Background()
	bi, err := st.BeginBlocks(ctx, db.SetSpec{Name: "FileBlock.Info", Kind: db.KindBlock, Class: db.ClassKnownBad, BlockSize: 512}, db.BlockOptions{}, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	file := md5.Sum([]byte("sample"))
	block := md5.Sum([]byte("block"))
	bi.AddSourceData(file, db.SourceData{Size: 40960, Zero: 2})
	bi.AddSourceName(file, "VxShare199", "VirusShare_00199/VirusShare_0001")
	bi.AddBlock(block, file, 7992, "", 3)
	if _, err := bi.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, st, nil)
	h := hex.EncodeToString(block[:])
	r := get(t, ts.URL+"/api/v1/block/"+strings.ToUpper(h))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var pretty bytes.Buffer
	json.Indent(&pretty, []byte(r.body), "", "  ")
	golden, err := os.ReadFile("testdata/block/answer.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(pretty.String()); got != strings.TrimSpace(string(golden)) {
		t.Fatalf("answer:\n%s\nwant (testdata/block/answer.json):\n%s", got, golden)
	}
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/api/v1/block/" + strings.Repeat("0", 32), 200, `"verdict":"NA"`},
		{"/api/v1/block/" + h + "?set=FileBlock.Info", 200, `"verdict":"OK"`},
		{"/api/v1/block/" + h + "?set=nope", 404, `no block set named`},
		{"/api/v1/block/xyz", 400, "32 hex digits"},
		{"/api/v1/block/" + h + "00", 400, "32 hex digits"},
	} {
		r := get(t, ts.URL+tc.path)
		if r.status != tc.status || !strings.Contains(r.body, tc.body) {
			t.Errorf("GET %s: %d %s, want %d with %q", tc.path, r.status, r.body, tc.status, tc.body)
		}
	}
}

func TestPageBlockAnswer(t *testing.T) {
	st := fixtureStore(t)
	ctx := context.Background()
	bi, err := st.BeginBlocks(ctx, db.SetSpec{Name: "blk", Kind: db.KindBlock, Class: db.ClassKnownBad, BlockSize: 512}, db.BlockOptions{}, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	file, block := md5.Sum([]byte("f")), md5.Sum([]byte("b"))
	bi.AddSourceData(file, db.SourceData{Size: 512})
	bi.AddSourceName(file, "repo", "evil<1>.bin")
	bi.AddBlock(block, file, 4500, "RM", 1)
	if _, err := bi.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, st, nil)
	h := hex.EncodeToString(block[:])
	r := get(t, ts.URL+"/?q="+h)
	for _, want := range []string{`id="block-answer"`, `data-verdict="OK"`, "blk", "k_entropy 4500", "<code>RM</code> (non-probative)", "repo: evil&lt;1&gt;.bin", hex.EncodeToString(file[:])} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// An MD5 no block set holds shows no block section unless asked.
	if r := get(t, ts.URL+"/?q="+strings.Repeat("1", 32)); strings.Contains(r.body, `id="block-answer"`) {
		t.Error("block section for an unknown MD5")
	}
	if r := get(t, ts.URL+"/?q="+strings.Repeat("1", 32)+"&type=block"); !strings.Contains(r.body, `data-verdict="NA"`) {
		t.Error("type=block: no NA block section")
	}
}
