package blocks

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/jsonstr"
	"github.com/matchmeta/matchmeta/db/progress"
)

// HashdbVersion is the hashdb version matchmeta's JSON files claim: the
// format is hashdb 3.1.0's, byte for byte, so hashdb imports them.
const HashdbVersion = "3.1.0"

// ExportJSON writes a block set in hashdb 3.1's export format: the two
// header lines (`# command: '...'`, `# hashdb-Version: 3.1.0`), every block
// line in block hash order, then every source line in file hash order,
// compact JSON with hashdb's key order and rapidjson's escaping.
func ExportJSON(ctx context.Context, st *db.Store, set, command string, w io.Writer, pr *progress.Tracker) error {
	si, err := st.Set(set)
	if err != nil {
		return fmt.Errorf("blocks: export: %w", err)
	}
	if si.Kind != db.KindBlock {
		return fmt.Errorf("blocks: export: %w: %s is a %s set", db.ErrInvalid, set, si.Kind)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	fmt.Fprintf(bw, "# command: '%s'\n# hashdb-Version: %s\n", command, HashdbVersion)
	files := make([][16]byte, 0, si.Sources)
	if err := st.EachSourceChunked(ctx, si, func(src *db.Source) error {
		files = append(files, src.FileHash)
		return nil
	}); err != nil {
		return err
	}
	pr.Phase("export", "hashes")
	pr.SetTotal(si.Count)
	var line []byte
	n := uint64(0)
	err = st.EachBlockChunked(ctx, si, func(h []byte, rec *db.BlockRecord) error {
		line = AppendBlockJSON(line[:0], h, rec.Entropy, rec.Label, rec.Sources, files)
		line = append(line, '\n')
		n++
		if n&4095 == 0 {
			pr.Add(4096)
		}
		_, err := bw.Write(line)
		return err
	})
	if err != nil {
		return err
	}
	err = st.EachSourceChunked(ctx, si, func(src *db.Source) error {
		line = AppendSourceJSON(line[:0], src)
		line = append(line, '\n')
		_, err := bw.Write(line)
		return err
	})
	if err != nil {
		return err
	}
	pr.SetDone(n)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("blocks: export: %w", err)
	}
	return nil
}

func appendHex(dst []byte, b []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, 2*len(b))...)
	hex.Encode(dst[n:], b)
	return dst
}

// AppendBlockJSON writes one hashdb block line (no newline).
func AppendBlockJSON(dst, hash []byte, entropy uint64, label string, srcs []db.SourceCount, files [][16]byte) []byte {
	dst = append(dst, `{"block_hash":"`...)
	dst = appendHex(dst, hash)
	dst = append(dst, `","k_entropy":`...)
	dst = strconv.AppendUint(dst, entropy, 10)
	dst = append(dst, `,"block_label":`...)
	dst = jsonstr.Append(dst, label, jsonstr.Rapid)
	dst = append(dst, `,"source_sub_counts":[`...)
	for i, s := range srcs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = appendHex(dst, files[s.Source][:])
		dst = append(dst, `",`...)
		dst = strconv.AppendUint(dst, uint64(s.Count), 10)
	}
	return append(dst, "]}"...)
}

// AppendSourceJSON writes one hashdb source object (no newline).
func AppendSourceJSON(dst []byte, src *db.Source) []byte {
	dst = append(dst, `{"file_hash":"`...)
	dst = appendHex(dst, src.FileHash[:])
	dst = append(dst, `","filesize":`...)
	dst = strconv.AppendUint(dst, src.Size, 10)
	dst = append(dst, `,"file_type":`...)
	dst = jsonstr.Append(dst, src.Type, jsonstr.Rapid)
	dst = append(dst, `,"zero_count":`...)
	dst = strconv.AppendUint(dst, src.Zero, 10)
	dst = append(dst, `,"nonprobative_count":`...)
	dst = strconv.AppendUint(dst, src.Nonprob, 10)
	dst = append(dst, `,"name_pairs":[`...)
	for i, n := range src.Names {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonstr.Append(dst, n.Repository, jsonstr.Rapid)
		dst = append(dst, ',')
		dst = jsonstr.Append(dst, n.Name, jsonstr.Rapid)
	}
	return append(dst, "]}"...)
}
