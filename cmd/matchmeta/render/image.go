package render

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/matchmeta/matchmeta/imager"
)

// ImagingStatus prints image status: the status line, and why imaging is
// not available when it is not.
func ImagingStatus(w io.Writer, st imager.Status) {
	fmt.Fprintln(w, st)
	if !st.Available && st.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", st.Reason)
	}
}

// Acquisition prints the outcome of image acquire or changed into dir:
// the counts always, the image, its hashes and the report when complete.
func Acquisition(w io.Writer, r *imager.Report, dir string) {
	fmt.Fprintf(w, "snapshot %s: %s, %d of %d blocks listed (%d with data, %d zeros), %d downloaded, %d resumed, %d retries\n",
		r.Snapshot, r.Status, r.ListedBlocks, r.VolumeBlocks, r.WrittenBlocks, r.ZeroBlocks, r.DownloadedBlocks, r.ResumedBlocks, r.Requests.Retries)
	if r.Status == "complete" {
		fmt.Fprintf(w, "image %s\nsha256 %s\n", filepath.Join(dir, r.Image), r.Hashes.SHA256)
		if r.Hashes.MD5 != "" {
			fmt.Fprintf(w, "md5 %s\n", r.Hashes.MD5)
		}
		if r.Hashes.SHA1 != "" {
			fmt.Fprintf(w, "sha1 %s\n", r.Hashes.SHA1)
		}
		if b := r.BlockScan; b != nil {
			fmt.Fprintf(w, "block scan %s: %d matches\n", b.Set, b.Matches)
		}
		fmt.Fprintf(w, "verification %s\nreport %s\n", r.Verification.Result, filepath.Join(dir, imager.ReportText))
	}
}

// Verify prints the outcome of image verify.
func Verify(w io.Writer, vr *imager.VerifyResult) {
	fmt.Fprintf(w, "%s: %s, %d blocks checked, %d mismatches\nsha256 %s\n", vr.Snapshot, vr.Result, vr.BlocksChecked, vr.Mismatches, vr.SHA256)
	for _, p := range vr.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
}

// Rebuilt prints the raw image image rebuild wrote and its SHA-256.
func Rebuilt(w io.Writer, image, sha256 string) {
	fmt.Fprintf(w, "image %s\nsha256 %s\n", image, sha256)
}

// Transformed prints what image compress, uncompress, encrypt or decrypt
// (op) did to the block files of dir.
func Transformed(w io.Writer, op string, n int, dir string) {
	fmt.Fprintf(w, "%sed %d block files in %s\n", op, n, dir)
}
