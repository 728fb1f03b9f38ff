package imager

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"filippo.io/age"
)

// ChangedOptions acquire a later snapshot from an earlier acquisition:
// the blocks ListChangedBlocks does not name are taken from the earlier
// acquisition (each checked against its manifest line), only the changed
// ones are fetched from the later snapshot (or left zeros when the later
// snapshot no longer has them). The new acquisition may use any layout
// (raw, blocks, compressed, encrypted), whatever the earlier one used.
type ChangedOptions struct {
	// First is the earlier snapshot; Base is the directory of its finished
	// acquisition.
	First string
	Base  string
	// BasePassword opens an encrypted base acquisition (default
	// Acquire.Password).
	BasePassword string
	// Acquire holds the rest; Acquire.Snapshot is the later snapshot and
	// Acquire.Out its new directory.
	Acquire AcquireOptions
}

type changedPlan struct {
	first   string
	baseDir string
	base    *manifest
	baseID  age.Identity
	changed bitmap
}

// Changed runs the acquisition of o.Acquire.Snapshot onto what the
// acquisition of o.First in o.Base holds.
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
	if rep.Snapshot != o.First || rep.Status != "complete" || rep.Verification.Result != "verified" {
		return nil, fmt.Errorf("imager: %s is not a verified acquisition of %s (snapshot %s, status %s, verification %s)",
			o.Base, o.First, rep.Snapshot, rep.Status, rep.Verification.Result)
	}
	m, err := openManifest(filepath.Join(o.Base, manifestName), false)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	plan := &changedPlan{first: o.First, baseDir: o.Base, base: m, changed: newBitmap(m.geo.Blocks())}
	if m.geo.Encrypt {
		pw := o.BasePassword
		if pw == "" {
			pw = o.Acquire.Password
		}
		if pw == "" {
			return nil, fmt.Errorf("imager: base acquisition %s is encrypted: its password is needed", o.Base)
		}
		if plan.baseID, err = loadIdentity(o.Base, pw, false, 0); err != nil {
			return nil, err
		}
	}
	o.Acquire.changed = plan
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

// seedChanged takes every unchanged block of the earlier acquisition
// that is not done yet: read from the base (image or block file), checked
// against the base manifest, written in this acquisition's layout and
// recorded. It runs after the resume cross-check, so an interrupted seed
// goes on where it stopped. Dropped blocks are not listed: they stay zeros.
func (a *acq) seedChanged(ctx context.Context) error {
	c := a.o.changed
	var img *os.File
	bg := c.base.geo
	if bg.Layout == "raw" {
		path := filepath.Join(c.baseDir, ImageName(bg.Snapshot))
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("imager: base image: %w", err)
		}
		defer f.Close()
		img = f
	}
	buf := make([]byte, a.geo.BlockSize)
	var seeded int64
	err := c.base.scan(func(idx int64, sum [32]byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if c.changed.has(idx) || a.done.has(idx) || !a.listed.has(idx) {
			return nil
		}
		if img != nil {
			if _, err := img.ReadAt(buf, idx*bg.BlockSize); err != nil {
				return fmt.Errorf("imager: base image block %d: %w", idx, err)
			}
			if sha256.Sum256(buf) != sum {
				return fmt.Errorf("imager: base acquisition %s: block %d does not match its manifest line", c.baseDir, idx)
			}
		} else {
			dir := filepath.Join(c.baseDir, bg.Snapshot)
			path, b, err := findBlockFile(dir, BlockName(idx, bg.Snapshot, sum, bg.VolumeGiB, bg.BlockSize), blockExt(bg.Compress, bg.Encrypt))
			if err == nil {
				err = readBlockFile(path, b, buf, c.baseID)
			}
			if err != nil {
				return fmt.Errorf("imager: base acquisition %s: block %d: %w", c.baseDir, idx, err)
			}
		}
		seeded++
		return a.put(idx, buf, sum)
	})
	if err != nil {
		return err
	}
	a.logf("imager: unchanged blocks taken from the base acquisition", "base", c.baseDir, "blocks", seeded)
	return nil
}
