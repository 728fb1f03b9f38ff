package importer

import (
	"archive/zip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestSiblingsAreWhatTheImportReads: Siblings declares exactly the tables
// an RDS v2 import of NSRLFile.txt opens beside it, by the same rule: any
// case, zipped when there is no plain one, a symbolic link included (the
// import reads through it). A daemon checks each declared file for its
// caller, so one it missed would be read unchecked.
func TestSiblingsAreWhatTheImportReads(t *testing.T) {
	src := filepath.Join("testdata", "nsrlv2-basic")
	dir := t.TempDir()
	copyTo := func(from, to string) {
		b, err := os.ReadFile(filepath.Join(src, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyTo("NSRLFile.txt", "NSRLFile.txt")
	copyTo("NSRLProd.txt", "nsrlprod.TXT") // another case
	// NSRLOS.txt is a symbolic link to a file outside the directory.
	elsewhere := filepath.Join(t.TempDir(), "os-table")
	b, err := os.ReadFile(filepath.Join(src, "NSRLOS.txt"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(elsewhere, b, 0o644)
	if err := os.Symlink(elsewhere, filepath.Join(dir, "NSRLOS.txt")); err != nil {
		t.Fatal(err)
	}
	// NSRLMfg.txt only zipped.
	zf, err := os.Create(filepath.Join(dir, "NSRLMfg.txt.zip"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(zf)
	w, _ := zw.Create("NSRLMfg.txt")
	mfg, _ := os.ReadFile(filepath.Join(src, "NSRLMfg.txt"))
	w.Write(mfg)
	zw.Close()
	zf.Close()
	copyTo("NSRLMfg.txt", "unrelated.txt") // not a table: never declared

	file := filepath.Join(dir, "NSRLFile.txt")
	got := Request{Format: FormatNSRL}.Siblings(file)
	want := []string{filepath.Join(dir, "NSRLMfg.txt.zip"), filepath.Join(dir, "NSRLOS.txt"), filepath.Join(dir, "nsrlprod.TXT")}
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Siblings = %q, want %q", got, want)
	}
	// What the import opens: the members v2FromDir finds, by their files.
	rel, err := v2FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer rel.Close()
	var opened []string
	for _, m := range []*member{rel.prod, rel.os, rel.mfg, rel.version} {
		if m != nil {
			p := m.name // a path, or zip:member
			if i := strings.LastIndex(p, ".zip:"); i > 0 {
				p = p[:i+len(".zip")]
			}
			opened = append(opened, p)
		}
	}
	sort.Strings(opened)
	if !reflect.DeepEqual(opened, want) {
		t.Errorf("the import reads %q beside NSRLFile.txt, Siblings declares %q", opened, want)
	}
	if s := (Request{Format: FormatSHA256}).Siblings(file); s != nil {
		t.Errorf("a hash list reads nothing beside its file, Siblings = %q", s)
	}
}
