package imager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ChangedOptions acquire a later snapshot from an earlier acquisition:
// the earlier image is copied, and only the blocks ListChangedBlocks
// names are fetched from the later snapshot (or zeroed when the later
// snapshot no longer has them).
type ChangedOptions struct {
	// First is the earlier snapshot; Base is the directory of its finished
	// raw acquisition.
	First string
	Base  string
	// Acquire holds the rest; Acquire.Snapshot is the later snapshot and
	// Acquire.Out its new directory.
	Acquire AcquireOptions
}

type changedPlan struct {
	first     string
	baseDir   string
	baseImage string
	base      *manifest
	changed   bitmap
}

// Changed runs the acquisition of o.Acquire.Snapshot onto a copy of the
// acquisition of o.First in o.Base.
func Changed(ctx context.Context, api API, o ChangedOptions) (*Report, error) {
	if o.First == "" || o.Base == "" {
		return nil, errors.New("imager: changed needs the first snapshot and its acquisition directory")
	}
	if filepath.Clean(o.Base) == filepath.Clean(o.Acquire.Out) {
		return nil, errors.New("imager: changed writes a new directory: --out must differ from the base acquisition")
	}
	rep, err := ReadReport(filepath.Join(o.Base, ReportJSON), nil)
	if err != nil {
		return nil, fmt.Errorf("imager: base acquisition: %w", err)
	}
	if rep.Snapshot != o.First || rep.Status != "complete" || rep.Verification.Result != "verified" || rep.Layout != "raw" {
		return nil, fmt.Errorf("imager: %s is not a verified raw acquisition of %s (snapshot %s, status %s, verification %s, layout %s)",
			o.Base, o.First, rep.Snapshot, rep.Status, rep.Verification.Result, rep.Layout)
	}
	m, err := openManifest(filepath.Join(o.Base, manifestName), false)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if o.Acquire.Blocks || o.Acquire.Compress || o.Acquire.Encrypt {
		return nil, errors.New("imager: changed writes a raw image; compress or encrypt it afterwards")
	}
	o.Acquire.changed = &changedPlan{first: o.First, baseDir: o.Base,
		baseImage: filepath.Join(o.Base, ImageName(o.First)), base: m, changed: newBitmap(m.geo.Blocks())}
	return Acquire(ctx, api, o.Acquire)
}

// prepareChanged makes the listed set of the later snapshot: the earlier
// one's blocks that did not change, plus the changed blocks it still has.
func (a *acq) prepareChanged() error {
	c := a.o.changed
	if c.base.geo.VolumeGiB != a.geo.VolumeGiB || c.base.geo.BlockSize != a.geo.BlockSize {
		return fmt.Errorf("imager: %s is %d GiB in %d-byte blocks, %s was %d / %d: a resized volume needs a full acquisition",
			a.o.Snapshot, a.geo.VolumeGiB, a.geo.BlockSize, c.first, c.base.geo.VolumeGiB, c.base.geo.BlockSize)
	}
	return c.base.scan(func(idx int64, _ [32]byte) error {
		if !c.changed.has(idx) && !a.listed.has(idx) {
			a.listed.set(idx)
			a.nlisted++
		}
		return nil
	})
}

// seedChanged copies the manifest lines of unchanged blocks and zeroes
// the blocks the later snapshot dropped. The cross-check that follows
// verifies the copied data against those lines.
func (a *acq) seedChanged() error {
	c := a.o.changed
	err := c.base.scan(func(idx int64, sum [32]byte) error {
		if c.changed.has(idx) {
			if !a.listed.has(idx) {
				if _, err := a.img.WriteAt(a.zero, idx*a.geo.BlockSize); err != nil {
					return fmt.Errorf("imager: zero block %d: %w", idx, err)
				}
			}
			return nil
		}
		return a.man.put(idx, sum)
	})
	if err != nil {
		return err
	}
	return a.sync()
}

// copySparse copies a raw image, leaving all-zero blocks as holes, through
// a temporary file renamed at the end.
func copySparse(ctx context.Context, src, dst string, bs int64) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("imager: base image: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("imager: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return fmt.Errorf("imager: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := tmp.Truncate(st.Size()); err != nil {
		return fmt.Errorf("imager: %w", err)
	}
	buf := make([]byte, bs)
	zero := make([]byte, bs)
	for off := int64(0); off < st.Size(); off += bs {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := in.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return fmt.Errorf("imager: read base image: %w", err)
		}
		if bytes.Equal(buf[:n], zero[:n]) {
			continue
		}
		if _, err := tmp.WriteAt(buf[:n], off); err != nil {
			return fmt.Errorf("imager: copy base image: %w", err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("imager: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("imager: %w", err)
	}
	return os.Rename(tmp.Name(), dst)
}
