package render

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bundle"
	"github.com/matchmeta/matchmeta/web/service"
)

// BundleCreated prints what bundle create wrote to out (as the user named
// it): its manifest and the key that signed it, or that none did.
func BundleCreated(w io.Writer, out string, made service.BundleCreated) {
	signed := "UNSIGNED (appliances refuse it unless --insecure-unsigned)"
	if made.KeyID != "" {
		signed = "signed by key " + made.KeyID
	}
	man := made.Manifest
	fmt.Fprintf(w, "wrote %s: bundle %s, producer %s, sequence %d, %s\n", out, man.ID, man.Producer, man.Sequence, signed)
	for _, d := range man.Datasets {
		fmt.Fprintf(w, "  %s %s %s: %d keys, %s\n", d.Mode, d.Set, d.Version, d.Count, d.Fingerprint)
	}
}

// BundleVerified prints the line of a bundle file that verified.
func BundleVerified(w io.Writer, file string, v service.BundleVerified) {
	sig := "signed by key " + v.KeyID
	if !v.Signed {
		sig = "UNSIGNED"
	}
	fmt.Fprintf(w, "%s: OK, bundle %s from %s, sequence %d, %s; %s\n", file, v.ID, v.Producer, v.Sequence, sig, v.Describe)
}

// BundleFailed prints why a bundle was not applied, and what it needs
// first when it says.
func BundleFailed(w io.Writer, msg, needs string) {
	fmt.Fprintf(w, "%s\n", msg)
	if needs != "" {
		fmt.Fprintf(w, "  %s\n", needs)
	}
}

// BundleApplied prints an applied bundle and its sets.
func BundleApplied(w io.Writer, rec db.BundleRecord) {
	fmt.Fprintf(w, "applied bundle %s (producer %s, sequence %d) in %s\n", rec.ID, rec.Producer, rec.Sequence, rec.Elapsed.Round(time.Millisecond))
	for _, s := range rec.Sets {
		if s.Mode == bundle.ModeDelta {
			fmt.Fprintf(w, "  %s %s: delta +%d -%d, %d keys, %s\n", s.Name, s.Version, s.Adds, s.Removes, s.Count, s.Fingerprint)
		} else {
			fmt.Fprintf(w, "  %s %s: %d keys, %s\n", s.Name, s.Version, s.Count, s.Fingerprint)
		}
	}
	if rec.Trust != nil {
		fmt.Fprintf(w, "  key rotation: %d keys trusted, %d revoked\n", len(rec.Trust.Keys), len(rec.Trust.Revoked))
	}
}

// BundleHistory prints bundle list: one row per attempt.
func BundleHistory(w io.Writer, recs []db.BundleRecord) error {
	tw, err := tableOr(w, len(recs), "no bundles applied or tried yet", "TIME\tRESULT\tBUNDLE\tPRODUCER\tSEQ\tFILE\tDETAIL")
	if tw == nil {
		return err
	}
	for _, r := range recs {
		detail := r.Error
		if r.Result == db.BundleApplied {
			var parts []string
			for _, s := range r.Sets {
				parts = append(parts, fmt.Sprintf("%s %s (%d keys)", s.Name, s.Version, s.Count))
			}
			detail = strings.Join(parts, ", ")
		}
		if r.Needs != "" {
			detail += "; " + r.Needs
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339), r.Result, orDash(r.ID), orDash(r.Producer), r.Sequence, filepath.Base(r.File), detail)
	}
	return tw.Flush()
}

// BundleSync prints the outcome of one sync pass over dir: applied
// bundles on w, failures on errw, then the counts on w.
func BundleSync(w, errw io.Writer, dir string, res service.BundleSyncResult) {
	for _, r := range res.Applied {
		BundleApplied(w, r)
	}
	for _, r := range res.Failed {
		BundleFailed(errw, r.Error, r.Needs)
	}
	fmt.Fprintf(w, "sync %s: %d applied, %d not applied, %d skipped (applied or refused before)\n", dir, len(res.Applied), len(res.Failed), res.Skipped)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// KeyPair prints what bundle keygen wrote.
func KeyPair(w io.Writer, prefix, keyID string, protected bool, trustDir string) {
	prot := "not password-protected"
	if protected {
		prot = "password-protected"
	}
	fmt.Fprintf(w, "wrote %s.key (%s) and %s.pub, key ID %s\ncopy %s.pub into each appliance's trust directory (%s)\n",
		prefix, prot, prefix, keyID, prefix, trustDir)
}
