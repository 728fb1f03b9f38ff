package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"aead.dev/minisign"
	"github.com/klauspost/compress/zstd"
)

// Compressions a bundle may use.
const (
	CompressZstd = "zstd"
	CompressGzip = "gzip"
	CompressNone = "none"
)

// WriteOptions tune Write.
type WriteOptions struct {
	// Key signs the manifest; nil writes an unsigned bundle.
	Key *minisign.PrivateKey
	// Compression is zstd (default), gzip or none.
	Compression string
}

// HashFile returns a file's size and SHA-256 (hex).
func HashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// Write writes a bundle to out: the manifest (each listed file's size and
// SHA-256 filled in from paths, which maps file names to their data), its
// signature, then the data files. The file appears complete or not at all.
func Write(ctx context.Context, out string, m *Manifest, paths map[string]string, opts WriteOptions) error {
	for i := range m.Datasets {
		for j := range m.Datasets[i].Files {
			f := &m.Datasets[i].Files[j]
			p, ok := paths[f.Name]
			if !ok {
				return fmt.Errorf("bundle: write %s: no data for file %s", out, f.Name)
			}
			n, sum, err := HashFile(p)
			if err != nil {
				return fmt.Errorf("bundle: write %s: %w", out, err)
			}
			f.Size, f.SHA256 = n, sum
		}
	}
	mb, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("bundle: write %s: %w", out, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("bundle: write %s: %w", out, err)
	}
	ok := false
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("bundle: write %s: %w", out, err)
	}
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var w io.Writer = tmp
	var closer io.Closer
	switch opts.Compression {
	case "", CompressZstd:
		zw, err := zstd.NewWriter(tmp, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithWindowSize(8<<20))
		if err != nil {
			return fmt.Errorf("bundle: write %s: %w", out, err)
		}
		w, closer = zw, zw
	case CompressGzip:
		gw := gzip.NewWriter(tmp)
		w, closer = gw, gw
	case CompressNone:
	default:
		return fmt.Errorf("bundle: write %s: compression %q (want zstd, gzip or none)", out, opts.Compression)
	}
	tw := tar.NewWriter(w)
	mtime := m.Created.UTC().Truncate(time.Second)
	add := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		n, err := io.Copy(tw, &ctxReader{ctx: ctx, r: r})
		if err == nil && n != size {
			err = fmt.Errorf("%s: %d bytes, expected %d (changed while writing?)", name, n, size)
		}
		return err
	}
	if err := add(ManifestName, int64(len(mb)), bytes.NewReader(mb)); err != nil {
		return fmt.Errorf("bundle: write %s: %w", out, err)
	}
	if opts.Key != nil {
		sig := SignManifest(*opts.Key, m, mb)
		if err := add(SignatureName, int64(len(sig)), bytes.NewReader(sig)); err != nil {
			return fmt.Errorf("bundle: write %s: %w", out, err)
		}
	}
	for _, d := range m.Datasets {
		for _, f := range d.Files {
			in, err := os.Open(paths[f.Name])
			if err != nil {
				return fmt.Errorf("bundle: write %s: %w", out, err)
			}
			err = add(f.Name, f.Size, in)
			in.Close()
			if err != nil {
				return fmt.Errorf("bundle: write %s: %w", out, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("bundle: write %s: %w", out, err)
	}
	if closer != nil {
		if err := closer.Close(); err != nil {
			return fmt.Errorf("bundle: write %s: %w", out, err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("bundle: write %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("bundle: write %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("bundle: write %s: %w", out, err)
	}
	ok = true
	return nil
}
