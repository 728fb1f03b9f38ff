package importer

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/internal/ahead"
)

// v2Release is where the files of an RDS v2 release are.
type v2Release struct {
	where                        string
	file, prod, os, mfg, version *member
	closers                      []io.Closer
}

// Close releases zips opened to reach members.
func (r *v2Release) Close() {
	for _, c := range r.closers {
		c.Close()
	}
	r.closers = nil
}

type v2OS struct{ name, version, mfg string }

// v2Meta is NSRLProd/NSRLOS/NSRLMfg, read into memory (they are small).
type v2Meta struct {
	mfg    map[string]string
	oses   map[string]v2OS
	prods  map[string]db.Package // "ProductCode/OpSystemCode"
	byCode map[string]db.Package // first row of each ProductCode
}

// resolve builds the package of a key "ProductCode/OpSystemCode". A file
// row may name an OS its product has no NSRLProd row for; the product's
// other data still applies.
func (m *v2Meta) resolve(key string) (db.Package, bool) {
	if m == nil {
		return db.Package{}, false
	}
	if p, ok := m.prods[key]; ok {
		return p, true
	}
	code, osCode, _ := strings.Cut(key, "/")
	p, ok := m.byCode[code]
	if !ok {
		return db.Package{}, false
	}
	p.Key = key
	o := m.oses[osCode]
	p.OS, p.OSVersion, p.OSManufacturer = o.name, o.version, m.mfg[o.mfg]
	p.OSCode, p.OSMfgCode = osCode, o.mfg
	if o.name == "" {
		p.OS = osCode
	}
	return p, true
}

// readV2Table reads a small RDS v2 CSV file, skipping its header.
func (j *job) readV2Table(m *member, header string, nfields int, fn func(f [][]byte)) error {
	rc, err := m.open()
	if err != nil {
		return fmt.Errorf("importer: nsrl v2 %s: %w", m.name, err)
	}
	defer rc.Close()
	lr := &lineReader{br: bufio.NewReaderSize(rc, 1<<16)}
	var fields [][]byte
	var scratch []byte
	for {
		line, ok := lr.next()
		if !ok {
			break
		}
		if len(line) == 0 && !lr.tooLong {
			continue
		}
		var err error
		if lr.tooLong {
			err = fmt.Errorf("line longer than %d bytes", readBufSize)
		} else {
			fields, err = splitV2(line, fields[:0], &scratch)
			if err == nil && lr.line == 1 && len(fields) > 0 && string(fields[0]) == header {
				continue
			}
			if err == nil && len(fields) != nfields {
				err = fmt.Errorf("%d fields, want %d", len(fields), nfields)
			}
		}
		if err != nil {
			if err := j.bad(&LineError{What: "nsrl v2", File: m.name, Unit: "line", Line: lr.line, Err: err}); err != nil {
				return err
			}
			continue
		}
		fn(fields)
	}
	if lr.err != nil {
		return readError("nsrl v2", m.name, lr.line, lr.err)
	}
	return nil
}

func (j *job) v2Meta(rel *v2Release) (*v2Meta, error) {
	m := &v2Meta{mfg: map[string]string{}, oses: map[string]v2OS{}, prods: map[string]db.Package{}, byCode: map[string]db.Package{}}
	if rel.mfg != nil {
		err := j.readV2Table(rel.mfg, "MfgCode", 2, func(f [][]byte) { m.mfg[string(f[0])] = text(f[1]) })
		if err != nil {
			return nil, err
		}
	} else {
		j.warn("nsrl v2 %s: no NSRLMfg.txt; manufacturers are not shown", rel.where)
	}
	if rel.os != nil {
		err := j.readV2Table(rel.os, "OpSystemCode", 4, func(f [][]byte) {
			m.oses[string(f[0])] = v2OS{name: text(f[1]), version: text(f[2]), mfg: string(f[3])}
		})
		if err != nil {
			return nil, err
		}
	} else {
		j.warn("nsrl v2 %s: no NSRLOS.txt; operating systems are not shown", rel.where)
	}
	if rel.prod == nil {
		j.warn("nsrl v2 %s: no NSRLProd.txt; records carry bare product codes", rel.where)
		return m, nil
	}
	err := j.readV2Table(rel.prod, "ProductCode", 7, func(f [][]byte) {
		code, osCode := string(f[0]), string(f[3])
		o := m.oses[osCode]
		p := db.Package{Key: code + "/" + osCode, ID: code, Name: text(f[1]), Version: text(f[2]), OS: o.name, OSVersion: o.version,
			OSManufacturer: m.mfg[o.mfg], Manufacturer: m.mfg[string(f[4])], Language: text(f[5]), ApplicationType: text(f[6]),
			OSCode: osCode, MfgCode: string(f[4]), OSMfgCode: o.mfg}
		if p.OS == "" {
			p.OS = osCode
		}
		if old, ok := m.prods[p.Key]; ok {
			p = mergePackage(old, p)
		}
		m.prods[p.Key] = p
		if _, ok := m.byCode[code]; !ok {
			m.byCode[code] = p
		}
	})
	return m, err
}

// v2Version reads the first line of a release's version.txt.
func v2Version(m *member) string {
	if m == nil {
		return ""
	}
	rc, err := m.open()
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 4096))
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return strings.TrimSpace(text(bytes.TrimSpace(line)))
}

// nsrlV2 reads an RDS v2 release (sha1, md5 and names) as a segment.
func (j *job) nsrlV2(st *nsrlState, rel *v2Release) error {
	defer rel.Close()
	if j.res.Format == "" || j.res.Format == FormatNSRL {
		j.res.Format = "nsrl-v2"
	}
	version := v2Version(rel.version)
	if j.req.Desc == "" && st.imp == nil {
		j.req.Desc = "NSRL RDS v2 " + j.shown(rel.file.name)
	}
	source := fmt.Sprintf("NIST NSRL RDS v2 (%s)", filepath.Base(j.shown(rel.where)))
	if err := j.nsrlStart(st, version, "", source, "nsrl v2 "+rel.file.name); err != nil {
		return err
	}
	if err := st.sink.segment(st.segmentName(rel.where, "")); err != nil {
		return err
	}
	if !j.req.NoRecords {
		meta, err := j.v2Meta(rel)
		if err != nil {
			return err
		}
		st.sink.v2 = meta
	}
	return j.v2Files(rel.file, st.sink)
}

// v2Files reads NSRLFile.txt into the sink. Parsing (splitting, hex
// decoding, bad lines) runs on a goroutine of its own and hands rows over
// in batches, while this one numbers their packages and adds them to the
// release's file store: the two halves cost about as much per line.
func (j *job) v2Files(m *member, sink *nsrlSink) error {
	rc, err := m.open()
	if err != nil {
		return fmt.Errorf("importer: nsrl v2 %s: %w", m.name, err)
	}
	defer rc.Close()
	total := m.size
	if total < 0 {
		total = 0
	}
	j.tr.Begin("read", j.req.Set, "records", 0, total)
	// Inflating a zip member costs as much as parsing it: do it ahead.
	ra := ahead.New(rc, nil)
	defer ra.Close()
	cr := &countingReader{r: ra, tr: j.tr}
	lr := &lineReader{br: bufio.NewReaderSize(cr, readBufSize)}
	full := make(chan *v2Batch, 2)
	free := make(chan *v2Batch, 3)
	stop := make(chan struct{})
	var parseErr error
	go func() {
		defer close(full)
		parseErr = j.v2Parse(m, lr, full, free, stop)
	}()
	var addErr error
	for b := range full {
		// Package numbers are given here: the file store's package list
		// is this goroutine's. A loop of its own, so that the lookups
		// (a cache miss each, in a table of some 20,000 keys) overlap.
		if addErr == nil {
			for i := range b.rows {
				b.rows[i].pkg = sink.pkgStr(b.pkgKeys[i])
			}
		}
		for i := range b.rows {
			if addErr != nil {
				break
			}
			addErr = sink.add(&b.rows[i])
		}
		if addErr != nil && stop != nil {
			close(stop) // the parser ends; its batches are drained
			stop = nil
		}
		select {
		case free <- b:
		default:
		}
	}
	// The parser is done: its counts are final.
	j.res.Lines += lr.line
	j.res.Bytes += cr.n
	if addErr != nil {
		return addErr
	}
	return parseErr
}

// v2Batch is a run of parsed rows and their package keys; their slices
// point into arena, which is never grown past its capacity (so earlier
// rows stay valid).
type v2Batch struct {
	rows    []nsrlRow
	pkgKeys [][]byte
	arena   []byte
}

const (
	v2BatchRows  = 2048
	v2BatchBytes = 256 << 10
)

// put copies b into the arena.
func (b *v2Batch) put(v []byte) []byte {
	if v == nil {
		return nil
	}
	b.arena = append(b.arena, v...)
	return b.arena[len(b.arena)-len(v) : len(b.arena) : len(b.arena)]
}

// v2Parse reads and parses the lines, counts and reports bad ones, and
// sends the rows in batches until the input ends, an error, or stop.
func (j *job) v2Parse(m *member, lr *lineReader, full, free chan *v2Batch, stop chan struct{}) error {
	var (
		l              v2FileLine
		row            nsrlRow
		sha1, md5, crc [32]byte
		pkgBuf         []byte
		pending        uint64
		b              *v2Batch
	)
	defer func() { j.tr.Add(pending) }()
	send := func() bool {
		if b == nil || len(b.rows) == 0 {
			return true
		}
		select {
		case full <- b:
			b = nil
			return true
		case <-stop:
			return false
		}
	}
	for {
		line, ok := lr.next()
		if !ok {
			break
		}
		pending++
		if err := j.tick(lr.line, &pending); err != nil {
			return err
		}
		if len(line) == 0 && !lr.tooLong {
			continue
		}
		if lr.line == 1 && bytes.HasPrefix(line, []byte(`"SHA-1"`)) {
			continue
		}
		var err error
		if lr.tooLong {
			err = fmt.Errorf("line longer than %d bytes", readBufSize)
		} else if err = l.parse(line); err == nil {
			err = decodeV2Line(&l, &row, sha1[:], md5[:], crc[:], &pkgBuf)
			if err == nil && len(row.name) > maxNameLen {
				err = checkName(row.name)
			}
		}
		if err != nil {
			if err := j.bad(&LineError{What: "nsrl v2", File: m.name, Unit: "line", Line: lr.line, Err: err}); err != nil {
				return err
			}
			continue
		}
		need := len(row.sha1) + len(row.md5) + len(row.crc32) + len(row.name) + len(row.special) + len(pkgBuf)
		if b != nil && (len(b.rows) == v2BatchRows || len(b.arena)+need > cap(b.arena)) {
			if !send() {
				return nil
			}
		}
		if b == nil {
			select {
			case b = <-free:
				b.rows, b.pkgKeys, b.arena = b.rows[:0], b.pkgKeys[:0], b.arena[:0]
			default:
				b = &v2Batch{rows: make([]nsrlRow, 0, v2BatchRows), pkgKeys: make([][]byte, 0, v2BatchRows), arena: make([]byte, 0, v2BatchBytes)}
			}
			if need > cap(b.arena) {
				b.arena = make([]byte, 0, need)
			}
		}
		b.rows = append(b.rows, nsrlRow{sha1: b.put(row.sha1), md5: b.put(row.md5), crc32: b.put(row.crc32),
			name: b.put(row.name), size: row.size, special: b.put(row.special)})
		b.pkgKeys = append(b.pkgKeys, b.put(pkgBuf))
	}
	if lr.err != nil {
		return readError("nsrl v2", m.name, lr.line, lr.err)
	}
	send()
	return nil
}
