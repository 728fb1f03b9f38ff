package imager

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/matchmeta/matchmeta/db/progress"
)

// findBlockFile finds the file of one block whatever stage of
// compression and encryption it is in, preferring ext.
func findBlockFile(dir, base, ext string) (string, BlockFile, error) {
	for _, e := range []string{ext, "", ".gz", ".age", ".gz.age"} {
		name := base + e
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			b, err := ParseBlockName(name)
			return filepath.Join(dir, name), b, err
		}
	}
	return "", BlockFile{}, fmt.Errorf("imager: block file %s: %w", base, os.ErrNotExist)
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Password opens encrypted block files.
	Password string
	Progress *progress.Tracker `json:"-"`
}

// VerifyResult is what `image verify` found.
type VerifyResult struct {
	Snapshot      string   `json:"snapshot"`
	Result        string   `json:"result"` // "verified" or "failed"
	BlocksChecked int64    `json:"blocks_checked"`
	Mismatches    int64    `json:"mismatches"`
	Problems      []string `json:"problems,omitempty"`
	SHA256        string   `json:"sha256"`
	ReportSHA256  string   `json:"report_sha256"`
}

// Verify re-checks a finished acquisition against its report: every
// block against the manifest (block files also against their names), the
// manifest against the report's block list, and the whole-image hashes
// against the report's.
func Verify(ctx context.Context, dir string, o VerifyOptions) (*VerifyResult, error) {
	m, err := openManifest(filepath.Join(dir, manifestName), false)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	g := m.geo
	vr := &VerifyResult{Snapshot: g.Snapshot}
	problem := func(s string) {
		vr.Mismatches++
		if len(vr.Problems) < 20 {
			vr.Problems = append(vr.Problems, s)
		}
	}
	sr := &slotReader{m: m}
	var reportBlocks int64
	rep, err := ReadReport(filepath.Join(dir, ReportJSON), func(b BlockSum) error {
		reportBlocks++
		if b.Index < 0 || b.Index >= g.Blocks() {
			problem(fmt.Sprintf("report block %d: beyond the volume", b.Index))
			return nil
		}
		sum, ok, err := sr.get(b.Index)
		if err != nil {
			return err
		}
		if !ok || hex.EncodeToString(sum[:]) != b.SHA256 {
			problem(fmt.Sprintf("block %d: report sha256 %s, manifest %x", b.Index, b.SHA256, sum))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rep.Snapshot != g.Snapshot || rep.VolumeSizeGiB != g.VolumeGiB || rep.BlockSize != g.BlockSize || rep.Layout != g.Layout {
		return nil, fmt.Errorf("imager: %s: report is for %s (%d GiB, %d, %s), manifest for %s (%d GiB, %d, %s)", dir,
			rep.Snapshot, rep.VolumeSizeGiB, rep.BlockSize, rep.Layout, g.Snapshot, g.VolumeGiB, g.BlockSize, g.Layout)
	}
	if rep.Status != "complete" {
		return nil, fmt.Errorf("imager: %s: the acquisition is %s: run acquire again to finish it", dir, rep.Status)
	}
	if reportBlocks != rep.ListedBlocks {
		problem(fmt.Sprintf("report lists %d blocks, says %d", reportBlocks, rep.ListedBlocks))
	}
	var id age.Identity
	if g.Encrypt {
		if g.Layout == "raw" {
			return nil, fmt.Errorf("imager: %s: the image is encrypted: decrypt it first", dir)
		}
		if id, err = loadIdentity(dir, o.Password, false, 0); err != nil {
			return nil, err
		}
	}
	o.Progress.Phase("verify", "blocks")
	o.Progress.SetTotal(uint64(g.Blocks()))
	o.Progress.SetBytesTotal(g.Bytes())
	c, err := checkAcquisition(ctx, g, dir, m, nil, id, newWholeHashes(rep.Hashes.MD5 != "", rep.Hashes.SHA1 != ""), o.Progress)
	if err != nil {
		return nil, err
	}
	vr.BlocksChecked = c.Checked
	for _, p := range c.Bad {
		problem(p)
	}
	vr.Mismatches += c.Mismatches - int64(len(c.Bad))
	if c.Checked != rep.ListedBlocks {
		problem(fmt.Sprintf("manifest holds %d blocks, the report lists %d", c.Checked, rep.ListedBlocks))
	}
	vr.SHA256, vr.ReportSHA256 = c.SHA256, rep.Hashes.SHA256
	if c.SHA256 != rep.Hashes.SHA256 {
		problem(fmt.Sprintf("image sha256 %s, report %s", c.SHA256, rep.Hashes.SHA256))
	}
	if c.MD5 != rep.Hashes.MD5 {
		problem(fmt.Sprintf("image md5 %s, report %s", c.MD5, rep.Hashes.MD5))
	}
	if c.SHA1 != rep.Hashes.SHA1 {
		problem(fmt.Sprintf("image sha1 %s, report %s", c.SHA1, rep.Hashes.SHA1))
	}
	vr.Result = "verified"
	if vr.Mismatches > 0 {
		vr.Result = "failed"
		return vr, fmt.Errorf("imager: %s: verification failed: %s", dir, strings.Join(vr.Problems, "; "))
	}
	return vr, nil
}

// blockFolder resolves an acquisition directory or a block folder to the
// folder holding the block files and the directory holding identity.age.
func blockFolder(dir string) (folder, keyDir string, err error) {
	if m, err := openManifest(filepath.Join(dir, manifestName), false); err == nil {
		snap := m.geo.Snapshot
		m.Close()
		return filepath.Join(dir, snap), dir, nil
	}
	keyDir = dir
	if _, err := os.Stat(filepath.Join(dir, identityName)); err != nil {
		keyDir = filepath.Dir(dir)
	}
	return dir, keyDir, nil
}

// eachBlockFile calls fn for every block file in folder, reading the
// folder in batches so a huge volume never holds every name at once.
func eachBlockFile(folder string, fn func(BlockFile) error) error {
	f, err := os.Open(folder)
	if err != nil {
		return fmt.Errorf("imager: %w", err)
	}
	defer f.Close()
	for {
		ents, err := f.ReadDir(1024)
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") || e.IsDir() {
				continue
			}
			b, perr := ParseBlockName(n)
			if perr != nil {
				return perr
			}
			if err := fn(b); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("imager: %s: %w", folder, err)
		}
	}
}

// RebuildOptions configure Rebuild.
type RebuildOptions struct {
	Password string
	Progress *progress.Tracker `json:"-"`
}

// Rebuild writes a sparse raw image from block files (plain, .gz, .age):
// each block at index x block size, every unlisted block zeros, each file
// checked against its name. It returns the image's SHA-256. The output is
// written to a temporary file renamed at the end. Snapshot 4n6ir
// Imager's --ext4 and --ntfs rebuilds are the same operation: a raw
// image needs no file-system work.
func Rebuild(ctx context.Context, dir, out string, o RebuildOptions) (string, error) {
	folder, keyDir, err := blockFolder(dir)
	if err != nil {
		return "", err
	}
	var g *BlockFile
	var seen bitmap
	var id age.Identity
	var img *os.File
	var buf, zero []byte
	defer func() {
		if img != nil {
			img.Close()
			os.Remove(img.Name())
		}
	}()
	o.Progress.Phase("rebuild", "blocks")
	err = eachBlockFile(folder, func(b BlockFile) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if g == nil {
			g = &b
			seen = newBitmap(b.VolumeGiB << 30 / b.BlockSize)
			buf, zero = make([]byte, b.BlockSize), make([]byte, b.BlockSize)
			f, err := os.CreateTemp(filepath.Dir(out), ".tmp-rebuild-*")
			if err != nil {
				return fmt.Errorf("imager: %w", err)
			}
			img = f
			if err := img.Truncate(b.VolumeGiB << 30); err != nil {
				return fmt.Errorf("imager: %w", err)
			}
		}
		if b.Snapshot != g.Snapshot || b.VolumeGiB != g.VolumeGiB || b.BlockSize != g.BlockSize {
			return fmt.Errorf("imager: block file %s is from %s (%d GiB, %d), %s from %s (%d GiB, %d)",
				b.Name, b.Snapshot, b.VolumeGiB, b.BlockSize, g.Name, g.Snapshot, g.VolumeGiB, g.BlockSize)
		}
		if seen.has(b.Index) {
			return fmt.Errorf("imager: block %d has two files in %s (an interrupted compress or encrypt: run it again)", b.Index, folder)
		}
		seen.set(b.Index)
		if b.Age && id == nil {
			var err error
			if id, err = loadIdentity(keyDir, o.Password, false, 0); err != nil {
				return err
			}
		}
		if err := readBlockFile(filepath.Join(folder, b.Name), b, buf, id); err != nil {
			return err
		}
		if !bytes.Equal(buf, zero) {
			if _, err := img.WriteAt(buf, b.Index*b.BlockSize); err != nil {
				return fmt.Errorf("imager: write %s: %w", out, err)
			}
		}
		o.Progress.Add(1)
		o.Progress.AddBytes(b.BlockSize)
		return nil
	})
	if err != nil {
		return "", err
	}
	if g == nil {
		return "", fmt.Errorf("imager: no block files in %s", folder)
	}
	o.Progress.Phase("hash", "bytes")
	if _, err := img.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("imager: %w", err)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, img, make([]byte, 1<<20)); err != nil {
		return "", fmt.Errorf("imager: hash %s: %w", out, err)
	}
	if err := img.Sync(); err != nil {
		return "", fmt.Errorf("imager: %w", err)
	}
	if err := img.Close(); err != nil {
		return "", fmt.Errorf("imager: %w", err)
	}
	if err := os.Rename(img.Name(), out); err != nil {
		return "", fmt.Errorf("imager: %w", err)
	}
	img = nil
	return hex.EncodeToString(h.Sum(nil)), nil
}

// TransformOptions configure Compress, Uncompress, Encrypt and Decrypt.
type TransformOptions struct {
	Password         string
	ScryptWorkFactor int
	Progress         *progress.Tracker `json:"-"`
}

// Compress gzips every block file in an acquisition (or block folder),
// one by one: each new file is checked against its name and complete
// before the old one goes, so an interrupted run loses nothing and a
// rerun finishes it. Encrypted files are refused: compression comes
// before encryption.
func Compress(ctx context.Context, dir string, o TransformOptions) (int, error) {
	return transform(ctx, dir, o, "compress", func(b BlockFile) (bool, bool, error) {
		if b.Age {
			return false, false, fmt.Errorf("imager: %s is encrypted: decrypt, compress, then encrypt again (compression comes before encryption)", b.Name)
		}
		return !b.Gzip, true, nil
	}, func(g *Geometry) { g.Compress = true })
}

// Uncompress undoes Compress.
func Uncompress(ctx context.Context, dir string, o TransformOptions) (int, error) {
	return transform(ctx, dir, o, "uncompress", func(b BlockFile) (bool, bool, error) {
		if b.Age {
			return false, false, fmt.Errorf("imager: %s is encrypted: decrypt it first", b.Name)
		}
		return b.Gzip, false, nil
	}, func(g *Geometry) { g.Compress = false })
}

// Encrypt encrypts every block file with age to the acquisition's
// identity (created with the password when missing); see identityName.
func Encrypt(ctx context.Context, dir string, o TransformOptions) (int, error) {
	return transform(ctx, dir, o, "encrypt", func(b BlockFile) (bool, bool, error) {
		return !b.Age, b.Gzip, nil
	}, func(g *Geometry) { g.Encrypt = true })
}

// Decrypt undoes Encrypt; a wrong password fails before any file changes.
func Decrypt(ctx context.Context, dir string, o TransformOptions) (int, error) {
	return transform(ctx, dir, o, "decrypt", func(b BlockFile) (bool, bool, error) {
		return b.Age, b.Gzip, nil
	}, func(g *Geometry) { g.Encrypt = false })
}

// transform rewrites the block files pick selects: pick returns whether
// to rewrite the file and whether the new file is gzipped; the new file is
// encrypted when op is "encrypt" or it stays encrypted.
func transform(ctx context.Context, dir string, o TransformOptions, op string,
	pick func(BlockFile) (do, gz bool, err error), geo func(*Geometry)) (int, error) {
	folder, keyDir, err := blockFolder(dir)
	if err != nil {
		return 0, err
	}
	if st, err := os.Stat(folder); err != nil || !st.IsDir() {
		return 0, fmt.Errorf("imager: %s has no block folder (%s): %s works on block files (acquire --blocks)", dir, folder, op)
	}
	var id *age.X25519Identity
	if op == "encrypt" || op == "decrypt" {
		if id, err = loadIdentity(keyDir, o.Password, op == "encrypt", o.ScryptWorkFactor); err != nil {
			return 0, err
		}
	}
	o.Progress.Phase(op, "blocks")
	n := 0
	var buf []byte
	err = eachBlockFile(folder, func(b BlockFile) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		do, gz, err := pick(b)
		if err != nil || !do {
			return err
		}
		if int64(len(buf)) != b.BlockSize {
			buf = make([]byte, b.BlockSize)
		}
		var rid age.Identity
		if id != nil {
			rid = id
		}
		if err := readBlockFile(filepath.Join(folder, b.Name), b, buf, rid); err != nil {
			if b.Age {
				return decryptErr(b.Name, err)
			}
			return err
		}
		enc := b.Age
		switch op {
		case "encrypt":
			enc = true
		case "decrypt":
			enc = false
		}
		var rcpt age.Recipient
		if enc {
			rcpt = id.Recipient()
		}
		name := BlockName(b.Index, b.Snapshot, b.SHA256, b.VolumeGiB, b.BlockSize) + blockExt(gz, enc)
		if name == b.Name {
			return nil
		}
		if err := writeBlockFile(folder, name, buf, gz, rcpt); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(folder, b.Name)); err != nil {
			return fmt.Errorf("imager: %w", err)
		}
		n++
		o.Progress.Add(1)
		o.Progress.AddBytes(b.BlockSize)
		return nil
	})
	if err != nil {
		return n, err
	}
	// Record the new state in the manifest header, when there is one.
	mpath := filepath.Join(dir, manifestName)
	if m, err := openManifest(mpath, true); err == nil {
		g := m.geo
		geo(&g)
		_, werr := m.f.WriteAt(g.header(), 0)
		if werr == nil {
			werr = m.f.Sync()
		}
		m.Close()
		if werr != nil {
			return n, fmt.Errorf("imager: manifest %s: %w", mpath, werr)
		}
	}
	return n, nil
}

// EncryptFile encrypts one file (a raw image) to the password with age's
// scrypt recipient: `age -d FILE.age` opens it.
func EncryptFile(ctx context.Context, src, dst, password string, workFactor int) error {
	rcpt, err := scryptRecipient(password, workFactor)
	if err != nil {
		return err
	}
	return streamFile(ctx, src, dst, func(w io.Writer) (io.WriteCloser, error) { return age.Encrypt(w, rcpt) }, nil)
}

// DecryptFile undoes EncryptFile; a wrong password is ErrWrongPassword.
func DecryptFile(ctx context.Context, src, dst, password string) error {
	id, err := scryptIdentity(password)
	if err != nil {
		return err
	}
	return streamFile(ctx, src, dst, nil, func(r io.Reader) (io.Reader, error) {
		dr, err := age.Decrypt(r, id)
		if err != nil {
			return nil, decryptErr(src, err)
		}
		return dr, nil
	})
}

func streamFile(ctx context.Context, src, dst string, wrap func(io.Writer) (io.WriteCloser, error), unwrap func(io.Reader) (io.Reader, error)) error {
	if dst == "" || src == dst {
		return errors.New("imager: the output must be a different file")
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("imager: %w", err)
	}
	defer in.Close()
	var r io.Reader = progress.Reader(ctx, in)
	if unwrap != nil {
		if r, err = unwrap(r); err != nil {
			return err
		}
	}
	return writeStream(dst, 0o600, func(w io.Writer) error {
		var wc io.WriteCloser
		if wrap != nil {
			var err error
			if wc, err = wrap(w); err != nil {
				return err
			}
			w = wc
		}
		if _, err := io.CopyBuffer(w, r, make([]byte, 1<<20)); err != nil {
			return fmt.Errorf("imager: %s: %w", src, err)
		}
		if wc != nil {
			return wc.Close()
		}
		return nil
	})
}
