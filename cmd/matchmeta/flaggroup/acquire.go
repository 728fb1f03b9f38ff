package flaggroup

import (
	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/web/service"
)

// Acquire are the flags of image acquire and image changed: the AWS
// settings, the acquisition's options and case fields, the password, the
// block scan; with changed, --first, --base, --second (the snapshot) and
// --base-password-file.
type Acquire struct {
	req        service.ImageAcquireRequest
	aws        *imager.Config
	pw, basePW *Secret
}

// AddAcquire registers them; passwordEnv is $MATCHMETA_IMAGE_PASSWORD.
func AddAcquire(fs *pflag.FlagSet, changed bool, passwordEnv string) *Acquire {
	a := &Acquire{aws: AddAWS(fs)}
	req, o := &a.req, &a.req.Acquire
	if changed {
		fs.StringVar(&req.First, "first", "", "the earlier snapshot (required)")
		fs.StringVar(&req.Base, "base", "", "the finished raw acquisition of --first (required)")
		fs.StringVar(&o.Snapshot, "second", "", "the later snapshot to acquire (required)")
	} else {
		fs.StringVar(&o.Snapshot, "snapshot", "", "snapshot id (required)")
	}
	fs.StringVar(&o.Out, "out", "", "acquisition directory (required; a rerun resumes)")
	fs.BoolVar(&o.Blocks, "blocks", false, "one file per block (Snapshot 4n6ir Imager naming) instead of a sparse raw image")
	fs.BoolVar(&o.Compress, "compress", false, "gzip each block file (implies --blocks)")
	fs.BoolVar(&o.Encrypt, "encrypt", false, "encrypt each block file with age to a password (implies --blocks)")
	a.pw = AddPassword(fs, passwordEnv)
	fs.IntVar(&o.Workers, "workers", imager.DefaultWorkers, "concurrent downloads")
	fs.Float64Var(&o.Rate, "rate", imager.DefaultRate, "GetSnapshotBlock calls per second (the EBS quota is 1,000 per snapshot)")
	fs.IntVar(&o.Retries, "retries", imager.DefaultRetries, "retries per request (throttling, network, bad checksums)")
	fs.BoolVar(&o.MD5, "md5", false, "also hash the whole image with MD5")
	fs.BoolVar(&o.SHA1, "sha1", false, "also hash the whole image with SHA-1")
	fs.BoolVar(&o.Force, "force", false, "start over in a directory that holds a finished acquisition")
	for _, f := range []struct {
		p          *string
		name, help string
	}{{&o.Case.Examiner, "examiner", "examiner"}, {&o.Case.Case, "case", "case number"}, {&o.Case.Evidence, "evidence", "evidence number"},
		{&o.Case.Description, "description", "description"}, {&o.Case.Notes, "notes", "notes"}} {
		fs.StringVar(f.p, f.name, "", f.help+", for the report")
	}
	fs.StringVar(&o.Account, "account", "", "AWS account that owns the snapshot, for the report (default: from the credentials when they say)")
	fs.StringVar(&req.ScanBlocks, "scan-blocks", "", "hunt this block set's blocks in the volume while it is acquired")
	fs.StringVar(&req.ScanOutput, "scan-output", "", "write the scan's JSON lines to this new file (default: stdout; through a daemon: kept in the job's report only)")
	if changed {
		a.basePW = AddFirstLine(fs, "base-password-file", "file whose first line is the password of an encrypted --base (default: the acquisition's password)")
	}
	return a
}

// Given is the request as the flags give it (no passwords yet), for the
// command's checks.
func (a *Acquire) Given() service.ImageAcquireRequest { return a.req }

// Request is the request with the AWS settings and the passwords read.
func (a *Acquire) Request() (service.ImageAcquireRequest, error) {
	req := a.req
	req.AWS = *a.aws
	req.Acquire.Timeout, req.Acquire.Endpoint = a.aws.Timeout, a.aws.Endpoint
	var err error
	if req.Acquire.Password, err = a.pw.Read(); err != nil {
		return req, err
	}
	if a.basePW != nil && a.basePW.Given() {
		if req.BasePassword, err = a.basePW.Read(); err != nil {
			return req, err
		}
	}
	return req, nil
}
