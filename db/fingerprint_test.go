package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// refFingerprint computes a plain hash list's fingerprint from the
// definition in fingerprint.go, independently of the store: its one
// section is the sum mod 2^256 of the SHA-256 of each bucket of keys.
func refFingerprint(kind Kind, keys [][]byte) string {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	h := sha256.New()
	h.Write([]byte("matchmeta set fingerprint v2\n" + string(kind) + "\n"))
	if len(keys) == 0 {
		return "mmfp2:" + hex.EncodeToString(h.Sum(nil))
	}
	b := max(len(big.NewInt(int64(len(keys)/8)).Text(2))-1, 0)
	if len(keys) < 8 {
		b = 0
	}
	bucket := func(k []byte) uint64 { return uint64(binary.BigEndian.Uint32(k)) >> (32 - b) }
	sum := new(big.Int)
	for i := 0; i < len(keys); {
		j := i
		var cat []byte
		for ; j < len(keys) && bucket(keys[j]) == bucket(keys[i]); j++ {
			cat = append(cat, keys[j]...)
		}
		d := sha256.Sum256(cat)
		sum.Add(sum, new(big.Int).SetBytes(d[:]))
		i = j
	}
	sum.Mod(sum, new(big.Int).Lsh(big.NewInt(1), 256))
	var d [32]byte
	sum.FillBytes(d[:])
	h.Write([]byte{'k'})
	h.Write(d[:])
	return "mmfp2:" + hex.EncodeToString(h.Sum(nil))
}

func TestFingerprintMatchesDefinition(t *testing.T) {
	st := openTest(t, Options{})
	for _, n := range []int{0, 1, 7, 8, 100, 4095, 4096, 20000} {
		keys := keysRange(0, n)
		si := importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown}, keys)
		if want := refFingerprint(KindSHA256, keys); si.Fingerprint != want {
			t.Errorf("%d keys: fingerprint %s, the definition gives %s", n, si.Fingerprint, want)
		}
	}
	md5 := md5Keys(0, 3000)
	si := importHashes(t, st, SetSpec{Name: "m", Kind: KindMD5, Class: ClassKnown}, md5)
	if want := refFingerprint(KindMD5, md5); si.Fingerprint != want {
		t.Errorf("md5: fingerprint %s, the definition gives %s", si.Fingerprint, want)
	}
}

// TestFingerprintLayeredMergedFresh holds the fingerprint to the set's
// content: a layered set, the same after its merge, and a fresh import of
// the content in another order all agree, through deltas that keep the
// key buckets' size and deltas that change it (4096 keys is a boundary);
// a one-key change changes it.
func TestFingerprintLayeredMergedFresh(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, Options{})
	ref := openTest(t, Options{})
	rng := rand.New(rand.NewPCG(7, 8))
	present := map[int]bool{}
	for i := 0; i < 4090; i++ {
		present[i] = true
	}
	content := func() [][]byte {
		var out [][]byte
		for i := range present {
			out = append(out, hashN(i))
		}
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	cur := importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown}, content())
	next := 10000
	for round, ch := range []struct{ adds, removes int }{
		{3, 0},    // 4093: same buckets
		{10, 0},   // 4103: past 4096, the buckets double
		{0, 20},   // 4083: back under it
		{50, 50},  // a change in place
		{0, 4083}, // everything removed
		{5, 0},    // and some back
	} {
		var adds, removes [][]byte
		for j := 0; j < ch.adds; j++ {
			adds = append(adds, hashN(next))
			present[next] = true
			next++
		}
		for i := range present {
			if len(removes) == ch.removes {
				break
			}
			if i < next-ch.adds {
				removes = append(removes, hashN(i))
				delete(present, i)
			}
		}
		got, err := applyDelta(t, st, "s", cur.Fingerprint, "", adds, removes)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		keys := content()
		fresh := importHashes(t, ref, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown}, keys)
		if got.Fingerprint != fresh.Fingerprint || got.Count != fresh.Count || got.Count != uint64(len(present)) {
			t.Fatalf("round %d: layered %d keys %s, fresh import %d keys %s", round, got.Count, got.Fingerprint, fresh.Count, fresh.Fingerprint)
		}
		if want := refFingerprint(KindSHA256, keys); got.Fingerprint != want {
			t.Fatalf("round %d: layered %s, the definition gives %s", round, got.Fingerprint, want)
		}
		if !mapsEqual(got.FingerprintSections, fresh.FingerprintSections) {
			t.Fatalf("round %d: sections %v, fresh import's %v", round, got.FingerprintSections, fresh.FingerprintSections)
		}
		if fp, err := st.Fingerprint(ctx, "s"); err != nil || fp != got.Fingerprint {
			t.Fatalf("round %d: recomputed %s %v, layered %s", round, fp, err, got.Fingerprint)
		}
		if round%2 == 1 {
			merged, err := st.MergeDelta(ctx, "s")
			if err != nil {
				t.Fatalf("round %d: merge: %v", round, err)
			}
			if merged.Fingerprint != got.Fingerprint || !mapsEqual(merged.FingerprintSections, fresh.FingerprintSections) {
				t.Fatalf("round %d: merged %s %v, layered %s", round, merged.Fingerprint, merged.FingerprintSections, got.Fingerprint)
			}
			got = merged
		}
		cur = got
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestFingerprintOneChange: one key more, one less, one bit of one key
// flipped, two keys' bytes swapped (a sum of raw keys would not see that)
// or one record changed: each gives another fingerprint.
func TestFingerprintOneChange(t *testing.T) {
	st := openTest(t, Options{})
	keys := keysRange(0, 5000)
	spec := SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown}
	base := importHashes(t, st, spec, keys).Fingerprint
	flip := slices.Clone(keys)
	flip[100] = slices.Clone(flip[100])
	flip[100][31] ^= 1
	swap := slices.Clone(keys)
	swap[1], swap[2] = slices.Clone(swap[1]), slices.Clone(swap[2])
	swap[1][20], swap[2][20] = swap[2][20], swap[1][20]
	for name, ks := range map[string][][]byte{
		"one more":  append(slices.Clone(keys), hashN(99999)),
		"one less":  keys[1:],
		"bit flip":  flip,
		"byte swap": swap,
	} {
		if fp := importHashes(t, st, spec, ks).Fingerprint; fp == base {
			t.Errorf("%s: fingerprint unchanged %s", name, fp)
		}
	}
	withRecord := func(name string) string {
		imp, err := st.BeginImport(context.Background(), []SetSpec{spec}, ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			r := &Record{FileSize: -1}
			if i == 7 {
				r.FileName = []byte(name)
			}
			if err := imp.Builders()[0].AddRecord(k, r); err != nil {
				t.Fatal(err)
			}
		}
		infos, err := imp.Commit(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return infos[0].Fingerprint
	}
	if a, b := withRecord("seven.exe"), withRecord("seven.exf"); a == b || a == base {
		t.Errorf("one record's name changed: fingerprints %s and %s (keys only %s)", a, b, base)
	}
}
