package imager

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
)

// The Snapshot 4n6ir Imager block naming: one file per block, named
// {index:010d}_{snapshot}_{sha256}_{volumeGiB}_{blockSize}, in a folder
// named after the snapshot. The name carries everything needed to verify
// and place the block. ".gz" is added when the block is gzip-compressed,
// ".age" when it is encrypted (compression always comes first).

// BlockName is the Snapshot 4n6ir Imager file name of one block.
func BlockName(idx int64, snapshot string, sum [32]byte, volumeGiB, blockSize int64) string {
	return fmt.Sprintf("%010d_%s_%x_%d_%d", idx, snapshot, sum, volumeGiB, blockSize)
}

// BlockFile is one parsed block file name.
type BlockFile struct {
	Name      string
	Index     int64
	Snapshot  string
	SHA256    [32]byte
	VolumeGiB int64
	BlockSize int64
	Gzip, Age bool
}

// ParseBlockName parses a Snapshot 4n6ir Imager block file name.
func ParseBlockName(name string) (BlockFile, error) {
	b := BlockFile{Name: name}
	base := name
	if s, ok := strings.CutSuffix(base, ".age"); ok {
		b.Age, base = true, s
	}
	if s, ok := strings.CutSuffix(base, ".gz"); ok {
		b.Gzip, base = true, s
	}
	f := strings.Split(base, "_")
	if len(f) != 5 {
		return b, fmt.Errorf("imager: block file %s: want index_snapshot_sha256_volumeGiB_blockSize", name)
	}
	var err error
	if len(f[0]) != 10 || !digits(f[0]) {
		return b, fmt.Errorf("imager: block file %s: index %q is not 10 digits", name, f[0])
	}
	if b.Index, err = strconv.ParseInt(f[0], 10, 64); err != nil {
		return b, fmt.Errorf("imager: block file %s: index: %w", name, err)
	}
	b.Snapshot = f[1]
	if b.Snapshot == "" {
		return b, fmt.Errorf("imager: block file %s: no snapshot id", name)
	}
	if len(f[2]) != 64 || strings.ToLower(f[2]) != f[2] {
		return b, fmt.Errorf("imager: block file %s: sha256 %q is not 64 lowercase hex digits", name, f[2])
	}
	if _, err := hex.Decode(b.SHA256[:], []byte(f[2])); err != nil {
		return b, fmt.Errorf("imager: block file %s: sha256: %w", name, err)
	}
	if !digits(f[3]) || !digits(f[4]) || f[3][0] == '0' || f[4][0] == '0' {
		return b, fmt.Errorf("imager: block file %s: volume size %q and block size %q must be plain positive numbers", name, f[3], f[4])
	}
	if b.VolumeGiB, err = strconv.ParseInt(f[3], 10, 64); err != nil || b.VolumeGiB <= 0 {
		return b, fmt.Errorf("imager: block file %s: volume size %q is not a positive number", name, f[3])
	}
	if b.BlockSize, err = strconv.ParseInt(f[4], 10, 64); err != nil || b.BlockSize <= 0 {
		return b, fmt.Errorf("imager: block file %s: block size %q is not a positive number", name, f[4])
	}
	if b.Index >= b.VolumeGiB<<30/b.BlockSize {
		return b, fmt.Errorf("imager: block file %s: index %d beyond a %d GiB volume", name, b.Index, b.VolumeGiB)
	}
	return b, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func blockExt(gz, enc bool) string {
	ext := ""
	if gz {
		ext += ".gz"
	}
	if enc {
		ext += ".age"
	}
	return ext
}

// writeBlockFile writes data to dir/name atomically (temporary file,
// fsync, rename), compressing and encrypting as asked.
func writeBlockFile(dir, name string, data []byte, gz bool, rcpt age.Recipient) error {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("imager: %w", err)
	}
	defer os.Remove(tmp.Name())
	var w io.Writer = tmp
	var closers []io.Closer
	if rcpt != nil {
		aw, err := age.Encrypt(w, rcpt)
		if err != nil {
			tmp.Close()
			return fmt.Errorf("imager: encrypt %s: %w", name, err)
		}
		closers = append(closers, aw)
		w = aw
	}
	if gz {
		zw := gzip.NewWriter(w)
		closers = append(closers, zw)
		w = zw
	}
	_, err = w.Write(data)
	for i := len(closers) - 1; i >= 0 && err == nil; i-- {
		err = closers[i].Close()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		return fmt.Errorf("imager: block file %s: %w", name, err)
	}
	return nil
}

// readBlockFile reads a block file into buf (which must be one block
// long), undoing encryption and compression, and checks its length and
// its SHA-256 against the name.
func readBlockFile(path string, b BlockFile, buf []byte, id age.Identity) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("imager: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if b.Age {
		if id == nil {
			return fmt.Errorf("imager: block file %s is encrypted: a password is needed", b.Name)
		}
		if r, err = age.Decrypt(r, id); err != nil {
			return fmt.Errorf("imager: block file %s: %w", b.Name, err)
		}
	}
	if b.Gzip {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("imager: block file %s: gzip: %w", b.Name, err)
		}
		r = zr
	}
	n, err := io.ReadFull(r, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Errorf("imager: block file %s: %d bytes, want %d", b.Name, n, len(buf))
	}
	if err != nil {
		return fmt.Errorf("imager: block file %s: %w", b.Name, err)
	}
	var one [1]byte
	if k, _ := io.ReadFull(r, one[:]); k > 0 {
		return fmt.Errorf("imager: block file %s: longer than %d bytes", b.Name, len(buf))
	}
	if sum := sha256.Sum256(buf); sum != b.SHA256 {
		return fmt.Errorf("imager: block file %s: content sha256 %x does not match its name", b.Name, sum)
	}
	return nil
}

// The encryption key. Scrypt (age's password recipient) costs about a
// second per file by design, far too slow for one file per 512 KiB block,
// so an acquisition generates one X25519 identity, stores it encrypted
// with the password (scrypt, random salt) as DIR/identity.age, and
// encrypts every block to it. Both files are plain age files: with the
// age CLI, `age -d identity.age > key.txt` (asks for the password) then
// `age -d -i key.txt BLOCK.age`. A single image file is encrypted to the
// password directly.
const identityName = "identity.age"

// ErrWrongPassword is returned when a password does not open an age file.
var ErrWrongPassword = errors.New("wrong password")

func scryptRecipient(password string, workFactor int) (*age.ScryptRecipient, error) {
	if password == "" {
		return nil, errors.New("imager: empty password")
	}
	r, err := age.NewScryptRecipient(password)
	if err != nil {
		return nil, fmt.Errorf("imager: %w", err)
	}
	if workFactor > 0 {
		r.SetWorkFactor(workFactor)
	}
	return r, nil
}

func scryptIdentity(password string) (age.Identity, error) {
	if password == "" {
		return nil, errors.New("imager: empty password")
	}
	id, err := age.NewScryptIdentity(password)
	if err != nil {
		return nil, fmt.Errorf("imager: %w", err)
	}
	return id, nil
}

// decryptErr names a wrong password plainly.
func decryptErr(what string, err error) error {
	var nm *age.NoIdentityMatchError
	if errors.As(err, &nm) {
		return fmt.Errorf("imager: %s: %w (or not encrypted to a password)", what, ErrWrongPassword)
	}
	return fmt.Errorf("imager: %s: %w", what, err)
}

// loadIdentity opens DIR/identity.age with the password, or creates it
// when create is set and it does not exist yet.
func loadIdentity(dir, password string, create bool, workFactor int) (*age.X25519Identity, error) {
	path := filepath.Join(dir, identityName)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, fmt.Errorf("imager: %w", err)
		}
		rcpt, err := scryptRecipient(password, workFactor)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, rcpt)
		if err != nil {
			return nil, fmt.Errorf("imager: %w", err)
		}
		fmt.Fprintf(w, "# created: %s\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("imager: %w", err)
		}
		if err := writeFileAtomic(path, buf.Bytes(), 0o600); err != nil {
			return nil, err
		}
		return id, nil
	}
	if err != nil {
		return nil, fmt.Errorf("imager: %w", err)
	}
	sid, err := scryptIdentity(password)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(data), sid)
	if err != nil {
		return nil, decryptErr(path, err)
	}
	ids, err := age.ParseIdentities(r)
	if err != nil {
		return nil, fmt.Errorf("imager: %s: %w", path, err)
	}
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			return x, nil
		}
	}
	return nil, fmt.Errorf("imager: %s holds no X25519 identity", path)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeStream(path, mode, func(w io.Writer) error { _, err := w.Write(data); return err })
}
