package db

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"fmt"
	"testing"
)

// importReleaseV2 imports a release of n files (SHA-1 and MD5 sets sharing
// one file store, five packages, two segments) in which the SHA-1 of
// "multi" names two files (two MD5s): that key's file numbers live in the
// overflow index.
func importReleaseV2(t *testing.T, st *Store, n int) []SetInfo {
	t.Helper()
	ctx := context.Background()
	specs := []SetSpec{{Name: "rel-sha1", Kind: KindSHA1, Class: ClassKnown, Group: "rel"}, {Name: "rel-md5", Kind: KindMD5, Class: ClassKnown, Group: "rel"}}
	imp, err := st.BeginImport(ctx, specs, ImportOptions{TxBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	fb, err := imp.Files(nil, imp.Builders()[0], imp.Builders()[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"modern", "legacy"} {
		if _, err := fb.AddSegment(s); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 5; i++ {
		fb.AddPackage(Package{Key: fmt.Sprint(i), ID: fmt.Sprint(i), Name: fmt.Sprintf("Package %d", i)})
	}
	add := func(s1, m5 []byte, name string, size int64, seg uint8, pkg uint32) {
		if err := fb.Add(&FileRow{SHA1: s1, MD5: m5, CRC32: []byte{1, 2, 3, 4}, Name: []byte(name), Size: size, Segment: seg, Package: pkg}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		s1, m5 := releaseSHA1(i), md5.Sum([]byte(fmt.Sprint("file-", i)))
		add(s1, m5[:], fmt.Sprintf("file-%d.dll", i), int64(i), uint8(i%2), uint32(i%5+1))
		if i%7 == 0 {
			add(s1, m5[:], fmt.Sprintf("alias-%d.dll", i), int64(i), 0, uint32((i+2)%5+1))
		}
	}
	multi := sha1.Sum([]byte("multi"))
	for _, c := range []string{"a", "b"} {
		m5 := md5.Sum([]byte(c))
		add(multi[:], m5[:], "multi-"+c+".sys", -1, 1, 3)
	}
	infos, err := imp.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return infos
}

func releaseSHA1(i int) []byte {
	s := sha1.Sum([]byte(fmt.Sprint("file-", i)))
	return s[:]
}

// TestMergeDeltaReleaseSet: a delta over a release's hash set (keys
// removed, among them the first and last of a chunk and a key with several
// files; keys added with and without records) merges into a base that
// answers every key exactly as the layered set did, with the layered set's
// fingerprint; the store checks clean, and a further delta and merge over
// the merged base work too.
func TestMergeDeltaReleaseSet(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, Options{})
	const n = 9000 // two chunks of SHA-1 keys
	infos := importReleaseV2(t, st, n)
	var sha1Set SetInfo
	for _, si := range infos {
		if si.Name == "rel-sha1" {
			sha1Set = si
		}
	}
	if sha1Set.FilesID == 0 {
		t.Fatalf("rel-sha1 has no file store: %+v", sha1Set)
	}
	multi := sha1.Sum([]byte("multi"))
	// Every key of the release, the keys the deltas add, and keys no one has.
	var all [][]byte
	for i := 0; i < n+40; i++ {
		all = append(all, releaseSHA1(i))
	}
	all = append(all, multi[:])
	answers := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		if err := st.View(func(r *Reader) error {
			for _, k := range all {
				q, err := ParseQuery(KindSHA1, fmt.Sprintf("%X", k))
				if err != nil {
					return err
				}
				a := r.Answer(q, true)
				js, err := AppendAnswerJSON(nil, &a)
				if err != nil {
					return err
				}
				out[string(k)] = string(js)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// delta removes the keys of removes and adds those of plain (no
	// records) and withRecs (one record each, of package "D").
	delta := func(base SetInfo, removes [][]byte, plain, withRecs []int) SetInfo {
		t.Helper()
		stg := st.NewStage()
		d, err := stg.BeginDelta(ctx, DeltaSpec{Set: "rel-sha1", BaseFingerprint: base.Fingerprint, Version: "2"})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range removes {
			if err := d.Remove(k); err != nil {
				t.Fatal(err)
			}
		}
		for _, i := range plain {
			if err := d.Add(releaseSHA1(i)); err != nil {
				t.Fatal(err)
			}
		}
		for _, i := range withRecs {
			rec := &Record{SHA1: releaseSHA1(i), FileName: []byte(fmt.Sprintf("new-%d.exe", i)), FileSize: int64(i), Packages: []string{"D"}}
			if err := d.AddRecord(releaseSHA1(i), rec); err != nil {
				t.Fatal(err)
			}
		}
		d.AddPackage(Package{Key: "D", ID: "d", Name: "Delta package"})
		if _, err := d.Finish(ctx); err != nil {
			stg.Abort()
			t.Fatal(err)
		}
		got, err := stg.Publish(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return got[0]
	}
	merge := func(layered SetInfo) SetInfo {
		t.Helper()
		before := answers()
		merged, err := st.MergeDelta(ctx, "rel-sha1")
		if err != nil {
			t.Fatalf("merge: %v", err)
		}
		if merged.Delta != nil || merged.Fingerprint != layered.Fingerprint || merged.Count != layered.Count || merged.FilesID != layered.FilesID {
			t.Errorf("merged: delta %v, %d keys %s files %d; layered: %d keys %s files %d",
				merged.Delta, merged.Count, merged.Fingerprint, merged.FilesID, layered.Count, layered.Fingerprint, layered.FilesID)
		}
		after := answers()
		for _, k := range all {
			if got, want := after[string(k)], before[string(k)]; got != want {
				t.Errorf("key %X after the merge:\n got %s\nwant %s", k, got, want)
			}
		}
		if err := st.Check(); err != nil {
			t.Errorf("check after the merge: %v", err)
		}
		return merged
	}
	// The first and last keys of the first chunk, some in between, and
	// the key with two files.
	var removes [][]byte
	var keys [][]byte
	if err := st.View(func(r *Reader) error {
		return r.ForEachKey(ctx, sha1Set, func(k []byte) error { keys = append(keys, bytes.Clone(k)); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	per := chunkKeys(KindSHA1.KeyWidth())
	removes = append(removes, keys[0], keys[per-1], keys[per], keys[len(keys)-1], multi[:])
	for i := 100; i < 200; i += 3 {
		removes = append(removes, keys[i])
	}
	one := delta(sha1Set, removes, []int{n, n + 1, n + 2, n + 3}, []int{n + 4, n + 5, n + 6})
	if want := sha1Set.Count + 7 - uint64(len(removes)); one.Count != want {
		t.Fatalf("after the delta: %d keys, want %d", one.Count, want)
	}
	ans := answers()
	for _, tc := range []struct {
		key  []byte
		want string // a part of the answer
	}{
		{releaseSHA1(n + 4), `new-9004.exe`},
		{releaseSHA1(n + 4), `Delta package`},
		{releaseSHA1(n), `"verdict":"OK"`},
		{releaseSHA1(7), `alias-7.dll`},
		{keys[0], `"verdict":"NA"`},
		{multi[:], `"verdict":"NA"`},
	} {
		if got := ans[string(tc.key)]; !bytes.Contains([]byte(got), []byte(tc.want)) {
			t.Errorf("layered answer of %X: got %s, want it to hold %s", tc.key, got, tc.want)
		}
	}
	merged := merge(one)
	// A second delta over the merged base: drop a key the first added
	// with records and one it added without, add more; merge again.
	two := delta(merged, [][]byte{releaseSHA1(n + 4), releaseSHA1(n + 1), releaseSHA1(8)}, []int{n + 10}, []int{n + 11})
	merge(two)
}
