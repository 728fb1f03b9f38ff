package imager

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Report file names inside an acquisition directory.
const (
	ReportJSON = "acquisition.json"
	ReportText = "acquisition.txt"
)

// Requests counts the API calls of an acquisition.
type Requests struct {
	GetSnapshotBlock int64 `json:"get_snapshot_block"`
	ListCalls        int64 `json:"list_calls"`
	Retries          int64 `json:"retries"`
	Throttled        int64 `json:"throttled"`
}

// Hashes of the full image, zero regions included.
type Hashes struct {
	SHA256 string `json:"sha256"`
	MD5    string `json:"md5,omitempty"`
	SHA1   string `json:"sha1,omitempty"`
}

// Verification is the read-back result.
type Verification struct {
	// Result is "verified", "failed" or "not run".
	Result        string   `json:"result"`
	BlocksChecked int64    `json:"blocks_checked"`
	Mismatches    int64    `json:"mismatches"`
	Problems      []string `json:"problems,omitempty"`
}

// BlockSum is one line of the per-block checksum manifest.
type BlockSum struct {
	Index  int64  `json:"index"`
	SHA256 string `json:"sha256"`
}

// Report is the forensic record of one acquisition (acquisition.json;
// acquisition.txt says the same for people). The per-block manifest is
// streamed into the JSON as "blocks" after these fields.
type Report struct {
	Tool        string   `json:"tool"`
	ToolVersion string   `json:"tool_version"`
	CommandLine []string `json:"command_line"`
	// Status is "complete" or "incomplete" (then a rerun resumes).
	Status       string `json:"status"`
	Snapshot     string `json:"snapshot"`
	BaseSnapshot string `json:"base_snapshot,omitempty"`
	Region       string `json:"region"`
	Account      string `json:"account,omitempty"`
	Endpoint     string `json:"endpoint,omitempty"`
	Case

	VolumeSizeGiB int64 `json:"volume_size_gib"`
	VolumeBytes   int64 `json:"volume_bytes"`
	BlockSize     int64 `json:"block_size"`
	VolumeBlocks  int64 `json:"volume_blocks"`
	// ListedBlocks are the blocks the snapshot holds; WrittenBlocks of them
	// hold data and ZeroBlocks hold only zeros. ResumedBlocks were verified
	// on disk from an earlier run, DownloadedBlocks fetched by this one.
	ListedBlocks     int64 `json:"listed_blocks"`
	WrittenBlocks    int64 `json:"written_blocks"`
	ZeroBlocks       int64 `json:"zero_blocks"`
	ResumedBlocks    int64 `json:"resumed_blocks"`
	DownloadedBlocks int64 `json:"downloaded_blocks"`
	ChangedBlocks    int64 `json:"changed_blocks,omitempty"`

	Layout     string `json:"layout"`
	Image      string `json:"image"`
	Manifest   string `json:"manifest"`
	Compressed bool   `json:"compressed"`
	Encrypted  bool   `json:"encrypted"`

	Started         time.Time `json:"started"`
	Finished        time.Time `json:"finished"`
	DurationSeconds float64   `json:"duration_seconds"`

	Requests     Requests     `json:"requests"`
	Errors       []string     `json:"errors"`
	Hashes       Hashes       `json:"hashes"`
	Verification Verification `json:"verification"`
	// BlockScan is what the consumer of the streamed volume (block hunting
	// with --scan-blocks) reported when the stream ended.
	BlockScan *StreamScan `json:"block_scan,omitempty"`
}

// StreamScan is the summary a Sink's consumer hands back at the end of the
// volume (AcquireOptions.SinkClose): which set it hunted, how many
// matches, and its own report as it encodes it.
type StreamScan struct {
	Set     string          `json:"set"`
	Matches uint64          `json:"matches"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

func (a *acq) report(started time.Time) *Report {
	r := &Report{
		Tool: "matchmeta", ToolVersion: a.o.ToolVersion, CommandLine: a.o.CommandLine,
		Status: "complete", Snapshot: a.o.Snapshot,
		Region: a.o.Region, Account: a.o.Account, Endpoint: a.o.Endpoint, Case: a.o.Case,
		VolumeSizeGiB: a.geo.VolumeGiB, VolumeBytes: a.geo.Bytes(), BlockSize: a.geo.BlockSize,
		VolumeBlocks: a.geo.Blocks(), ListedBlocks: a.nlisted,
		WrittenBlocks: a.written.Load(), ZeroBlocks: a.zeros.Load(),
		ResumedBlocks: a.resumed.Load(), DownloadedBlocks: a.downloaded.Load(),
		Layout: a.geo.Layout, Manifest: manifestName, Compressed: a.geo.Compress, Encrypted: a.geo.Encrypt,
		Started: started,
		Requests: Requests{GetSnapshotBlock: a.gets.Load(), ListCalls: a.lists.Load(),
			Retries: a.retries.Load(), Throttled: a.throttled.Load()},
		Errors: []string{},
	}
	if r.CommandLine == nil {
		r.CommandLine = []string{}
	}
	if a.o.changed != nil {
		r.BaseSnapshot = a.o.changed.first
		r.ChangedBlocks = a.o.changed.changed.count()
	}
	if a.geo.Layout == "raw" {
		r.Image = ImageName(a.o.Snapshot)
	} else {
		r.Image = a.o.Snapshot + "/"
	}
	a.errMu.Lock()
	r.Errors = append(r.Errors, a.errs...)
	a.errMu.Unlock()
	r.BlockScan = a.streamScan
	return r
}

func (r *Report) applyCheck(c checkResult) {
	r.Hashes = Hashes{SHA256: c.SHA256, MD5: c.MD5, SHA1: c.SHA1}
	r.Verification = Verification{Result: "verified", BlocksChecked: c.Checked, Mismatches: c.Mismatches, Problems: c.Bad}
	if c.Mismatches > 0 {
		r.Verification.Result = "failed"
	}
}

// writeReport writes base.json and base.txt (acquisition.* when base is
// empty) atomically, streaming the block manifest from m.
func writeReport(dir string, r *Report, m *manifest, base string) error {
	if base == "" {
		base = strings.TrimSuffix(ReportJSON, ".json")
		os.Remove(filepath.Join(dir, "acquisition-incomplete.json"))
		os.Remove(filepath.Join(dir, "acquisition-incomplete.txt"))
	}
	r.DurationSeconds = r.Finished.Sub(r.Started).Seconds()
	// The text first: the JSON is what says an acquisition is finished
	// (a rerun refuses to redo it), so it must not exist without its text.
	if err := writeStream(filepath.Join(dir, base+".txt"), 0o644, func(w io.Writer) error { return r.writeText(w, m) }); err != nil {
		return err
	}
	return writeStream(filepath.Join(dir, base+".json"), 0o644, func(w io.Writer) error { return r.writeJSON(w, m) })
}

func writeStream(path string, mode os.FileMode, fn func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("imager: %w", err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<16)
	err = fn(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("imager: write %s: %w", path, err)
	}
	return nil
}

func (r *Report) writeJSON(w io.Writer, m *manifest) error {
	head, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	head = bytes.TrimSuffix(head, []byte("\n}"))
	if _, err := w.Write(head); err != nil {
		return err
	}
	io.WriteString(w, ",\n  \"blocks\": [")
	first := true
	err = m.scan(func(idx int64, sum [32]byte) error {
		sep := ",\n    "
		if first {
			sep, first = "\n    ", false
		}
		_, err := fmt.Fprintf(w, "%s{\"index\": %d, \"sha256\": \"%x\"}", sep, idx, sum)
		return err
	})
	if err != nil {
		return err
	}
	if !first {
		io.WriteString(w, "\n  ")
	}
	_, err = io.WriteString(w, "]\n}\n")
	return err
}

func (r *Report) writeText(w io.Writer, m *manifest) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	line := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	opt := func(k, v string) {
		if v != "" {
			line(k, v)
		}
	}
	fmt.Fprintf(w, "matchmeta EBS snapshot acquisition (%s)\n\n", r.Status)
	line("Tool", "matchmeta "+r.ToolVersion)
	line("Command line", strings.Join(r.CommandLine, " "))
	line("Snapshot", r.Snapshot)
	opt("Base snapshot", r.BaseSnapshot)
	line("Region", r.Region)
	opt("Account", r.Account)
	opt("Endpoint", r.Endpoint)
	opt("Examiner", r.Examiner)
	opt("Case number", r.Case.Case)
	opt("Evidence number", r.Evidence)
	opt("Description", r.Description)
	opt("Notes", r.Notes)
	line("Volume size", fmt.Sprintf("%d GiB (%d bytes)", r.VolumeSizeGiB, r.VolumeBytes))
	line("Block size", fmt.Sprintf("%d bytes", r.BlockSize))
	line("Volume blocks", r.VolumeBlocks)
	line("Listed blocks", fmt.Sprintf("%d (%d with data, %d all zeros)", r.ListedBlocks, r.WrittenBlocks, r.ZeroBlocks))
	line("Downloaded blocks", r.DownloadedBlocks)
	line("Resumed blocks", r.ResumedBlocks)
	if r.BaseSnapshot != "" {
		line("Changed blocks", r.ChangedBlocks)
	}
	line("Layout", r.Layout)
	line("Image", r.Image)
	line("Compressed", r.Compressed)
	line("Encrypted", r.Encrypted)
	line("Started (UTC)", r.Started.UTC().Format(time.RFC3339))
	line("Finished (UTC)", r.Finished.UTC().Format(time.RFC3339))
	line("Duration", fmt.Sprintf("%.3f s", r.DurationSeconds))
	line("GetSnapshotBlock calls", r.Requests.GetSnapshotBlock)
	line("List calls", r.Requests.ListCalls)
	line("Retries", fmt.Sprintf("%d (%d throttled)", r.Requests.Retries, r.Requests.Throttled))
	line("Errors", len(r.Errors))
	opt("Image SHA-256", r.Hashes.SHA256)
	opt("Image MD5", r.Hashes.MD5)
	opt("Image SHA-1", r.Hashes.SHA1)
	line("Verification", fmt.Sprintf("%s (%d blocks checked, %d mismatches)", r.Verification.Result, r.Verification.BlocksChecked, r.Verification.Mismatches))
	if b := r.BlockScan; b != nil {
		line("Block scan", fmt.Sprintf("block set %s, %d matches, during the acquisition", b.Set, b.Matches))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	for _, p := range r.Verification.Problems {
		fmt.Fprintf(w, "verification problem: %s\n", p)
	}
	fmt.Fprintf(w, "\nBlock manifest (index sha256):\n")
	return m.scan(func(idx int64, sum [32]byte) error {
		_, err := fmt.Fprintf(w, "%010d %x\n", idx, sum)
		return err
	})
}

// ReadReport reads DIR/acquisition.json; blocks, when set, is called for
// every manifest line in it, streamed (the file can be large).
func ReadReport(path string, blocks func(BlockSum) error) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imager: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<16))
	bad := func(err error) error { return fmt.Errorf("imager: report %s: %w", path, err) }
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, bad(fmt.Errorf("not a JSON object"))
	}
	fields := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, bad(err)
		}
		key, _ := t.(string)
		if key != "blocks" {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, bad(fmt.Errorf("field %s: %w", key, err))
			}
			fields[key] = raw
			continue
		}
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			return nil, bad(fmt.Errorf("field blocks: not an array"))
		}
		for n := 0; dec.More(); n++ {
			var b BlockSum
			if err := dec.Decode(&b); err != nil {
				return nil, bad(fmt.Errorf("blocks[%d]: %w", n, err))
			}
			if _, err := hex.DecodeString(b.SHA256); err != nil || len(b.SHA256) != 64 {
				return nil, bad(fmt.Errorf("blocks[%d]: sha256 %q is not 64 hex digits", n, b.SHA256))
			}
			if blocks != nil {
				if err := blocks(b); err != nil {
					return nil, err
				}
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, bad(err)
		}
	}
	all, _ := json.Marshal(fields)
	var r Report
	if err := json.Unmarshal(all, &r); err != nil {
		return nil, bad(err)
	}
	if r.Snapshot == "" || r.BlockSize <= 0 || r.VolumeSizeGiB <= 0 {
		return nil, bad(fmt.Errorf("snapshot, block_size or volume_size_gib missing"))
	}
	return &r, nil
}
