package importer

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/matchmeta/matchmeta/db"
)

// A "hashes" import may mix kinds, and the store needs every set named up
// front, so the parsed hashes go to an unlinked spool file first (binary,
// about a third of the hex input); the sets are then begun for the kinds
// actually seen and fed from the spool. One kind gives one set named as
// requested; several give NAME-sha256, NAME-sha1, NAME-md5 in one group.

var kindCodes = []db.Kind{db.KindSHA256, db.KindSHA1, db.KindMD5}

func kindCode(k db.Kind) byte {
	for i, x := range kindCodes {
		if x == k {
			return byte(i)
		}
	}
	panic("importer: no spool code for kind " + string(k))
}

func (j *job) mixedHashLists() error {
	f, err := os.CreateTemp(j.opts.TempDir, ".matchmeta-spool-*")
	if err != nil {
		f, err = os.CreateTemp("", ".matchmeta-spool-*")
		if err != nil {
			return fmt.Errorf("importer: spool: %w", err)
		}
	}
	// Unlinked at once: nothing is left behind whatever happens.
	os.Remove(f.Name())
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var counts [3]uint64
	var hdr [1 + binary.MaxVarintLen64]byte
	records := !j.req.NoRecords
	err = j.readHashLists("", j.req.Set, func(h *hashLine) error {
		c := kindCode(h.kind)
		counts[c]++
		hdr[0] = c
		var nl int
		if records {
			nl = len(h.name)
		}
		n := 1 + binary.PutUvarint(hdr[1:], uint64(nl))
		w.Write(hdr[:n])
		w.Write(h.Key())
		_, err := w.Write(h.name[:nl])
		return err
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("importer: spool: %w", err)
	}
	var specs []db.SetSpec
	var kinds []db.Kind
	for i, n := range counts {
		if n > 0 {
			kinds = append(kinds, kindCodes[i])
		}
	}
	if len(kinds) == 0 {
		return fmt.Errorf("importer: hash list %s: no values found (%d lines read, %d bad); nothing imported", describeFiles(j.req.Files), j.res.Lines, j.res.Bad)
	}
	builderOf := map[db.Kind]int{}
	for i, k := range kinds {
		if len(kinds) == 1 {
			specs = append(specs, j.spec(j.req.Set, k, ""))
		} else {
			specs = append(specs, j.spec(j.req.Set+"-"+string(k), k, j.req.Set))
		}
		builderOf[k] = i
	}
	imp, err := j.begin(specs)
	if err != nil {
		return fmt.Errorf("importer: %w", err)
	}
	defer imp.Abort() // a no-op once committed
	var builders [3]*db.Builder
	for k, i := range builderOf {
		builders[kindCode(k)] = imp.Builders()[i]
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("importer: spool: %w", err)
	}
	j.tr.Begin("route", j.req.Set, "records", 0, 0)
	r := bufio.NewReaderSize(f, 1<<20)
	rec := db.Record{FileSize: -1}
	key := make([]byte, 32)
	var name []byte
	var n uint64
	for {
		c, err := r.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("importer: spool: %w", err)
		}
		nl, err := binary.ReadUvarint(r)
		if err != nil || int(c) >= len(kindCodes) {
			return fmt.Errorf("importer: spool: corrupt entry %d", n)
		}
		w := kindCodes[c].KeyWidth()
		if _, err := io.ReadFull(r, key[:w]); err != nil {
			return fmt.Errorf("importer: spool: %w", err)
		}
		b := builders[c]
		if nl > 0 {
			if uint64(cap(name)) < nl {
				name = make([]byte, nl)
			}
			name = name[:nl]
			if _, err := io.ReadFull(r, name); err != nil {
				return fmt.Errorf("importer: spool: %w", err)
			}
			rec.FileName = name
			err = b.AddRecord(key[:w], &rec)
		} else {
			err = b.AddKey(key[:w])
		}
		if err != nil {
			return fmt.Errorf("importer: %w", err)
		}
		n++
		if n%progressEvery == 0 {
			j.tr.Add(progressEvery)
			if err := j.ctx.Err(); err != nil {
				return fmt.Errorf("importer: %w", err)
			}
		}
	}
	return j.commit(imp, "hash list "+describeFiles(j.req.Files))
}
