package imager

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/matchmeta/matchmeta/imager/ebsemu"
)

// TestSinkStreamsVolumeInOrder: the Sink sees the whole volume in index
// order while blocks arrive out of order (retried throttles and bad
// checksums delay some), so a hash of what it sees is the volume's hash;
// in every layout, and again when a rerun resumes a half-done acquisition.
func TestSinkStreamsVolumeInOrder(t *testing.T) {
	vol := ebsemu.PatternVolume("snap-0feed0000000000a1", 1, spread(100, 2048), 3)
	srv := ebsemu.New(ebsemu.Options{Fault: func(r ebsemu.Request) ebsemu.Fault {
		switch {
		case r.Op != "GetSnapshotBlock" || r.Attempt > 1:
			return ebsemu.None
		case r.Index%7 == 0:
			return ebsemu.Throttle
		case r.Index%11 == 0:
			return ebsemu.BadChecksum
		}
		return ebsemu.None
	}}, vol)
	defer srv.Close()
	for _, tc := range []struct {
		name             string
		blocks, gz, encr bool
		stopAfter        int64
	}{
		{name: "raw"},
		{name: "gzip+age", gz: true, encr: true},
		{name: "raw resumed", stopAfter: 900},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := fastOpts(vol.ID, dir)
			o.Blocks, o.Compress, o.Encrypt = tc.blocks, tc.gz, tc.encr
			if tc.encr {
				o.Password, o.ScryptWorkFactor = "stream pw", 10
			}
			if tc.stopAfter > 0 {
				// A first run whose Sink fails half way: the acquisition
				// stops, naming the sink, and leaves a resumable directory.
				o.Sink = func(idx int64, _ []byte) error {
					if idx == tc.stopAfter {
						return fmt.Errorf("enough")
					}
					return nil
				}
				if _, err := Acquire(context.Background(), testClient(t, srv.URL), o); err == nil {
					t.Fatal("a failing sink did not stop the acquisition")
				}
			}
			h := sha256.New()
			next := int64(0)
			o.Sink = func(idx int64, data []byte) error {
				if idx != next {
					return fmt.Errorf("sink got block %d, want %d", idx, next)
				}
				next++
				h.Write(data)
				return nil
			}
			rep, err := Acquire(context.Background(), testClient(t, srv.URL), o)
			if err != nil {
				t.Fatal(err)
			}
			if next != 2048 {
				t.Fatalf("sink saw %d blocks, want 2048", next)
			}
			if got, want := hex.EncodeToString(h.Sum(nil)), volSHA256(vol); got != want || rep.Hashes.SHA256 != want {
				t.Fatalf("sink stream sha256 %s, report %s, volume %s", got, rep.Hashes.SHA256, want)
			}
			if tc.stopAfter > 0 && rep.ResumedBlocks == 0 {
				t.Error("the rerun resumed nothing")
			}
		})
	}
}

// TestChangedIntoEveryLayout: a changed-blocks acquisition writes the
// layouts a full one does, from a base in any layout, and equals the
// later volume.
func TestChangedIntoEveryLayout(t *testing.T) {
	first := memVolume("snap-first")
	blocks := map[int32][]byte{}
	for _, idx := range first.Indices() {
		blocks[idx] = first.Block(idx)
	}
	blocks[2] = first.Block(0) // changed
	delete(blocks, 511)        // dropped
	blocks[3] = first.Block(1) // added
	second := ebsemu.MemVolume("snap-second", 1, blocks)
	second.Parent = first.ID
	srv := ebsemu.New(ebsemu.Options{}, first, second)
	defer srv.Close()
	type layout struct{ blocks, gz, encr bool }
	for _, tc := range []struct {
		name      string
		base, out layout
	}{
		{"raw onto blocks", layout{}, layout{blocks: true}},
		{"raw onto gzip+age", layout{}, layout{gz: true, encr: true}},
		{"age onto raw", layout{encr: true}, layout{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := func(snap, dir string, l layout) AcquireOptions {
				o := fastOpts(snap, dir)
				o.Blocks, o.Compress, o.Encrypt = l.blocks, l.gz, l.encr
				if l.encr {
					o.Password, o.ScryptWorkFactor = "changed pw", 10
				}
				return o
			}
			base := t.TempDir()
			if _, err := Acquire(context.Background(), testClient(t, srv.URL), opts(first.ID, base, tc.base)); err != nil {
				t.Fatal(err)
			}
			before := srv.Stats.Gets.Load()
			out := filepath.Join(t.TempDir(), "second")
			o := ChangedOptions{First: first.ID, Base: base, Acquire: opts(second.ID, out, tc.out)}
			if tc.base.encr {
				o.BasePassword = "changed pw"
			}
			rep, err := Changed(context.Background(), testClient(t, srv.URL), o)
			if err != nil {
				t.Fatal(err)
			}
			if got := srv.Stats.Gets.Load() - before; got != 2 {
				t.Errorf("changed fetched %d blocks, want 2", got)
			}
			if rep.Hashes.SHA256 != volSHA256(second) || rep.Verification.Result != "verified" {
				t.Fatalf("changed acquisition sha256 %s (%s), want %s", rep.Hashes.SHA256, rep.Verification.Result, volSHA256(second))
			}
			vr, err := Verify(context.Background(), out, VerifyOptions{Password: o.Acquire.Password})
			if err != nil || vr.SHA256 != volSHA256(second) {
				t.Fatalf("verify: %v %+v", err, vr)
			}
		})
	}
}
