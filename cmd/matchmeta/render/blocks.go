package render

import (
	"fmt"
	"io"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer/blocks"
)

// BlockCreated prints the line of blocks create.
func BlockCreated(w io.Writer, si db.SetInfo) {
	fmt.Fprintf(w, "created block set %s (block size %d, step %d, %s)\n", si.Name, si.BlockSize, si.Step, si.Class)
}

// BlockIngestErrors prints the files a blocks ingest could not read; they
// come before the summary, and also when the ingest failed.
func BlockIngestErrors(w io.Writer, res *blocks.IngestResult) {
	if res == nil {
		return
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "unreadable: %s\n", e)
	}
}

// BlockIngest prints the summary of blocks ingest.
func BlockIngest(w io.Writer, res *blocks.IngestResult) {
	fmt.Fprintf(w, "ingested %d files (%s) into %s: %d block hashes recorded, %d zero and %d non-probative blocks, %d duplicate files, %d embedded members, %d unreadable; the set has %d hashes from %d sources\n",
		res.Files, progress.Bytes(int64(res.Bytes)), res.Set.Name, res.Blocks, res.Zero, res.Nonprob, res.Duplicates, res.Embedded, res.Failed, res.Set.Count, res.Set.Sources)
}

// BlockImportErrors prints the bad lines a blocks import kept (the result
// holds the first few; the rest are counted).
func BlockImportErrors(w io.Writer, res *blocks.ImportResult) {
	if res == nil {
		return
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "%v\n", e)
	}
	if n := res.Bad - uint64(len(res.Errors)); n > 0 {
		fmt.Fprintf(w, "... and %d more bad lines\n", n)
	}
}

// BlockImport prints the summary of blocks import of file.
func BlockImport(w io.Writer, file string, res *blocks.ImportResult) {
	fmt.Fprintf(w, "imported %s (%s): %d lines, %d block entries, %d source lines, %d skipped (sources already in the set), %d short pieces, %d bad lines; the set has %d hashes from %d sources\n",
		file, res.Format, res.Lines, res.Blocks, res.Sources, res.Skipped, res.Short, res.Bad, res.Set.Count, res.Set.Sources)
}

// BlockSetOp prints the summary of a blocks set operation.
func BlockSetOp(w io.Writer, op string, res *blocks.SetOpResult) {
	fmt.Fprintf(w, "%s: read %d hashes, wrote %d (hash, source) pairs; %s has %d hashes from %d sources\n", op, res.Read, res.Written, res.Set.Name, res.Set.Count, res.Set.Sources)
}

// BlockStats prints blocks stats: a line of counts, then hashdb's
// histogram lines (the JSON objects hashdb histogram prints), then labels.
func BlockStats(w io.Writer, s *blocks.Stats) {
	fmt.Fprintf(w, "set %s: block size %d, step %d, %d block hashes from %d sources\n", s.Set, s.BlockSize, s.Step, s.Hashes, s.Sources)
	fmt.Fprintf(w, "{\"total_hashes\": %d, \"total_distinct_hashes\": %d}\n", s.TotalHashes, s.Singletons)
	for _, h := range s.Histogram {
		fmt.Fprintf(w, "{\"duplicates\":%d, \"distinct_hashes\":%d, \"total\":%d}\n", h.Duplicates, h.Hashes, h.Total)
	}
	for l, n := range s.Labels {
		fmt.Fprintf(w, "label %s: %d hashes\n", l, n)
	}
}
