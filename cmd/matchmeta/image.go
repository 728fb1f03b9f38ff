package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/web/remote"
	"github.com/matchmeta/matchmeta/web/service"
)

const imageUsage = `image SUBCOMMAND [flags]

Forensic acquisition of Amazon EBS snapshots (EBS direct APIs):
  status                             are AWS credentials there? (profile, region)
  budget --snapshot S                API calls, download and volume size, estimated cost
  acquire --snapshot S --out DIR     verified, resumable acquisition and report
  verify DIR                         re-check an acquisition against its report
  rebuild DIR --out IMAGE            raw image from block files (--ext4/--ntfs alike)
  compress DIR | uncompress DIR      gzip / gunzip each block file
  encrypt DIR|FILE | decrypt DIR|FILE   age with a password (block files, or one file with --out)
  changed --first S1 --base DIR1 --second S2 --out DIR2
                                     only the blocks changed since S1, onto a copy of DIR1

Every command that talks to AWS takes --region, --profile and --endpoint
(AWS_ENDPOINT_URL_EBS works too).`

func (m *Main) runImage(ctx context.Context, args []string) error {
	if err := m.subcommandHelp(args, imageUsage); err != nil {
		return err
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "status":
		return m.imageStatus(ctx, rest)
	case "budget":
		return m.imageBudget(ctx, rest)
	case "acquire":
		return m.imageAcquire(ctx, rest, false)
	case "changed":
		return m.imageAcquire(ctx, rest, true)
	case "verify":
		return m.imageVerify(ctx, rest)
	case "rebuild":
		return m.imageRebuild(ctx, rest)
	case "compress", "uncompress", "encrypt", "decrypt":
		return m.imageTransform(ctx, sub, rest)
	}
	return usagef(nil, "unknown subcommand %q (matchmeta image --help)", sub)
}

// withImaging runs fn with the imaging service: the daemon's when one
// serves dbPath (the job then runs there, with the daemon's credentials,
// and shows on its status page), else the local service over the
// database when the operation needs it (--scan-blocks), else a job
// runner of its own (imaging needs no database). A progress view is on
// stderr either way.
func (m *Main) withImaging(ctx context.Context, what, dbPath string, needDB bool, fn func(svc service.Images, p *render.Progress) error) error {
	p := render.NewProgress(m.Stderr, render.ProgressOptions{What: what})
	defer p.Close()
	if dbPath != "" {
		if c := m.imagingDaemon(ctx, dbPath); c != nil {
			defer c.Close()
			return fn(c, p)
		}
	}
	log := m.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(p.LogWriter(), &slog.HandlerOptions{Level: levelOf(m.env("MATCHMETA_LOG_LEVEL"))}))
	}
	if needDB {
		svc, release, err := m.service(ctx, dbPath, svcOptions{readOnly: true, log: p.LogWriter()})
		if err != nil {
			return err
		}
		defer release()
		return fn(svc, p)
	}
	jobs := service.NewRunner(service.RunnerConfig{Logger: log})
	defer jobs.Stop(context.Background())
	return fn(service.NewImaging(service.ImagingConfig{Logger: log, InstanceMetadata: true}, jobs), p)
}

// imagingDaemon is the daemon serving dbPath, or nil when none answers.
func (m *Main) imagingDaemon(ctx context.Context, dbPath string) *remote.Client {
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return nil
	}
	for _, sock := range m.clientSocketPaths(abs) {
		c, err := remote.Dial(ctx, remote.Config{Socket: sock, DB: abs,
			Notify: func(msg string) { fmt.Fprintf(m.Stderr, "matchmeta: %s\n", msg) }})
		if err == nil {
			fmt.Fprintf(m.Stderr, "matchmeta: the daemon on %s runs this job (its AWS credentials, its view of the files)\n", sock)
			return c
		}
	}
	return nil
}

// awsFlags are the flags of every command that talks to AWS.
type awsFlags struct {
	region, profile, endpoint *string
	timeout                   *time.Duration
}

func (m *Main) addAWSFlags(fs *pflag.FlagSet) awsFlags {
	return awsFlags{
		region:   fs.String("region", "", "AWS region (default: AWS_REGION or the profile's)"),
		profile:  fs.String("profile", "", "shared config profile (default: AWS_PROFILE or default)"),
		endpoint: fs.String("endpoint", "", "EBS endpoint URL: VPC or FIPS endpoints, an emulator (AWS_ENDPOINT_URL_EBS works too)"),
		timeout:  fs.Duration("timeout", 60*time.Second, "deadline of every single request"),
	}
}

func (f awsFlags) config() imager.Config {
	return imager.Config{Region: *f.region, Profile: *f.profile, Endpoint: *f.endpoint, Timeout: *f.timeout}
}

// passwordFlags: --password-file, else MATCHMETA_IMAGE_PASSWORD, else
// --password (Snapshot 4n6ir Imager's flag; visible to other users in ps).
type passwordFlags struct{ password, file *string }

func (m *Main) addPasswordFlags(fs *pflag.FlagSet) passwordFlags {
	return passwordFlags{
		password: fs.String("password", "", "encryption password (visible in ps: prefer --password-file or MATCHMETA_IMAGE_PASSWORD)"),
		file:     fs.String("password-file", "", "file whose first line is the password"),
	}
}

func (m *Main) password(p passwordFlags) (string, error) {
	if *p.file != "" {
		data, err := os.ReadFile(*p.file)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			return "", fmt.Errorf("password file %s: first line is empty", *p.file)
		}
		return line, nil
	}
	if v := m.env("MATCHMETA_IMAGE_PASSWORD"); v != "" {
		return v, nil
	}
	return *p.password, nil
}

func (m *Main) imageStatus(ctx context.Context, args []string) error {
	const usage = "image status [--region R] [--profile P] [--json]"
	fs := m.newFlagSet("image status", usage)
	af := m.addAWSFlags(fs)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	var st imager.Status
	m.withImaging(ctx, "image status", "", false, func(svc service.Images, _ *render.Progress) error {
		st = svc.ImagingStatus(ctx, af.config())
		return nil
	})
	if *asJSON {
		return json.NewEncoder(m.Stdout).Encode(st)
	}
	render.ImagingStatus(m.Stdout, st)
	return nil
}

func (m *Main) imageBudget(ctx context.Context, args []string) error {
	const usage = "image budget --snapshot S [--get-price USD] [--list-price USD] [--transfer-price USD] [--json]"
	fs := m.newFlagSet("image budget", usage)
	dbPath := m.dbFlag(fs) // a daemon serving it runs the job
	af := m.addAWSFlags(fs)
	snap := fs.String("snapshot", "", "snapshot id (required)")
	get := fs.Float64("get-price", imager.DefaultGetPricePer1000, "USD per 1,000 GetSnapshotBlock calls")
	list := fs.Float64("list-price", imager.DefaultListPricePer1000, "USD per 1,000 list calls")
	transfer := fs.Float64("transfer-price", 0, "USD per GiB transferred (0 inside the region; the egress rate outside AWS)")
	asJSON := fs.Bool("json", false, "print the budget as JSON")
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if *snap == "" {
		return usagef(fs, "--snapshot is required")
	}
	var b *imager.Budget
	err := m.withImaging(ctx, "image budget", *dbPath, false, func(svc service.Images, p *render.Progress) error {
		var err error
		b, err = svc.ImageBudget(ctx, af.config(), imager.BudgetOptions{Snapshot: *snap, GetPrice: *get, ListPrice: *list,
			TransferPricePerGiB: *transfer, Timeout: *af.timeout}, p.Watch)
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(m.Stdout).Encode(b)
	}
	return b.WriteText(m.Stdout)
}

func (m *Main) imageAcquire(ctx context.Context, args []string, changed bool) error {
	usage := "image acquire --snapshot S --out DIR [--blocks] [--compress] [--encrypt] [--workers N] [--rate N] [--md5] [--sha1] [--examiner X --case X --evidence X --description X --notes X] [--scan-blocks SET]"
	name := "image acquire"
	if changed {
		usage = "image changed --first S1 --base DIR1 --second S2 --out DIR2 [acquire flags]"
		name = "image changed"
	}
	fs := m.newFlagSet(name, usage)
	af := m.addAWSFlags(fs)
	var snap, first, base *string
	if changed {
		first = fs.String("first", "", "the earlier snapshot (required)")
		base = fs.String("base", "", "the finished raw acquisition of --first (required)")
		snap = fs.String("second", "", "the later snapshot to acquire (required)")
	} else {
		snap = fs.String("snapshot", "", "snapshot id (required)")
	}
	out := fs.String("out", "", "acquisition directory (required; a rerun resumes)")
	blocksLayout := fs.Bool("blocks", false, "one file per block (Snapshot 4n6ir Imager naming) instead of a sparse raw image")
	compress := fs.Bool("compress", false, "gzip each block file (implies --blocks)")
	encrypt := fs.Bool("encrypt", false, "encrypt each block file with age to a password (implies --blocks)")
	pw := m.addPasswordFlags(fs)
	workers := fs.Int("workers", imager.DefaultWorkers, "concurrent downloads")
	rate := fs.Float64("rate", imager.DefaultRate, "GetSnapshotBlock calls per second (the EBS quota is 1,000 per snapshot)")
	retries := fs.Int("retries", imager.DefaultRetries, "retries per request (throttling, network, bad checksums)")
	md5 := fs.Bool("md5", false, "also hash the whole image with MD5")
	sha1 := fs.Bool("sha1", false, "also hash the whole image with SHA-1")
	force := fs.Bool("force", false, "start over in a directory that holds a finished acquisition")
	var c imager.Case
	fs.StringVar(&c.Examiner, "examiner", "", "examiner, for the report")
	fs.StringVar(&c.Case, "case", "", "case number, for the report")
	fs.StringVar(&c.Evidence, "evidence", "", "evidence number, for the report")
	fs.StringVar(&c.Description, "description", "", "description, for the report")
	fs.StringVar(&c.Notes, "notes", "", "notes, for the report")
	account := fs.String("account", "", "AWS account that owns the snapshot, for the report (default: from the credentials when they say)")
	scanSet := fs.String("scan-blocks", "", "hunt this block set's blocks in the volume while it is acquired")
	scanOutput := fs.String("scan-output", "", "write the scan's JSON lines to this new file (default: stdout; through a daemon: kept in the job's report only)")
	var basePW passwordFlags
	if changed {
		basePW = passwordFlags{password: new(string),
			file: fs.String("base-password-file", "", "file whose first line is the password of an encrypted --base (default: the acquisition's password)")}
	}
	dbPath := m.dbFlag(fs)
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	switch {
	case *snap == "":
		return usagef(fs, "the snapshot is required")
	case *out == "":
		return usagef(fs, "--out DIR is required")
	case changed && (*first == "" || *base == ""):
		return usagef(fs, "--first and --base are required")
	case fs.NArg() > 0:
		return usagef(fs, "unexpected argument %q", fs.Arg(0))
	}
	password, err := m.password(pw)
	if err != nil {
		return err
	}
	o := imager.AcquireOptions{Snapshot: *snap, Out: *out, Blocks: *blocksLayout, Compress: *compress, Encrypt: *encrypt,
		Password: password, Workers: *workers, Rate: *rate, Retries: *retries, Timeout: *af.timeout,
		MD5: *md5, SHA1: *sha1, Force: *force, Case: c, Endpoint: *af.endpoint, Account: *account,
		ToolVersion: Version, CommandLine: redactPassword(append([]string{"matchmeta", "image", strings.Fields(name)[1]}, args...))}
	req := service.ImageAcquireRequest{AWS: af.config(), Acquire: o, ScanBlocks: *scanSet}
	if changed {
		req.First, req.Base = *first, *base
		if *basePW.file != "" {
			if req.BasePassword, err = m.password(basePW); err != nil {
				return err
			}
		}
	}
	var rep *imager.Report
	err = m.withImaging(ctx, name, *dbPath, *scanSet != "", func(svc service.Images, p *render.Progress) error {
		if *scanSet != "" {
			// The lines go to --scan-output (opened by whoever runs the
			// job), else to this terminal when the job runs here; a
			// daemon keeps them in the job's report only.
			if *scanOutput != "" {
				abs, err := filepath.Abs(*scanOutput)
				if err != nil {
					return err
				}
				req.ScanOutput = abs
			} else {
				req.ScanOut, req.ScanSummary = m.Stdout, m.Stderr
			}
		}
		var err error
		rep, err = svc.ImageAcquire(ctx, req, p.Watch)
		p.Close()
		return err
	})
	if rep != nil {
		render.Acquisition(m.Stdout, rep, *out)
	}
	return err
}

// redactPassword keeps a --password out of the report's command line.
func redactPassword(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		switch {
		case a == "--password" && i+1 < len(out):
			out[i+1] = "REDACTED"
		case strings.HasPrefix(a, "--password="):
			out[i] = "--password=REDACTED"
		}
	}
	return out
}

func (m *Main) imageVerify(ctx context.Context, args []string) error {
	const usage = "image verify DIR [--password-file F] [--json]"
	fs := m.newFlagSet("image verify", usage)
	dbPath := m.dbFlag(fs) // a daemon serving it runs the job
	pw := m.addPasswordFlags(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef(fs, "want one acquisition directory")
	}
	password, err := m.password(pw)
	if err != nil {
		return err
	}
	var vr *imager.VerifyResult
	err = m.withImaging(ctx, "image verify", *dbPath, false, func(svc service.Images, p *render.Progress) error {
		var err error
		vr, err = svc.ImageVerify(ctx, fs.Arg(0), imager.VerifyOptions{Password: password}, p.Watch)
		p.Close()
		return err
	})
	if vr != nil {
		if *asJSON {
			json.NewEncoder(m.Stdout).Encode(vr)
		} else {
			render.Verify(m.Stdout, vr)
		}
	}
	return err
}

func (m *Main) imageRebuild(ctx context.Context, args []string) error {
	const usage = "image rebuild DIR --out IMAGE [--ext4|--ntfs] [--password-file F]"
	fs := m.newFlagSet("image rebuild", usage)
	dbPath := m.dbFlag(fs) // a daemon serving it runs the job
	out := fs.String("out", "", "raw image to write (required)")
	fs.Bool("ext4", false, "accepted for Snapshot 4n6ir Imager users: a raw image needs no file-system step")
	fs.Bool("ntfs", false, "accepted for Snapshot 4n6ir Imager users: a raw image needs no file-system step")
	pw := m.addPasswordFlags(fs)
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *out == "" {
		return usagef(fs, "want DIR and --out IMAGE")
	}
	password, err := m.password(pw)
	if err != nil {
		return err
	}
	var sum string
	err = m.withImaging(ctx, "image rebuild", *dbPath, false, func(svc service.Images, p *render.Progress) error {
		var err error
		sum, err = svc.ImageRebuild(ctx, fs.Arg(0), *out, imager.RebuildOptions{Password: password}, p.Watch)
		return err
	})
	if err != nil {
		return err
	}
	render.Rebuilt(m.Stdout, *out, sum)
	return nil
}

func (m *Main) imageTransform(ctx context.Context, op string, args []string) error {
	usage := "image " + op + " DIR"
	if op == "encrypt" || op == "decrypt" {
		usage = "image " + op + " DIR|FILE [--out FILE] [--password-file F]"
	}
	fs := m.newFlagSet("image "+op, usage)
	dbPath := m.dbFlag(fs) // a daemon serving it runs the job
	var pw passwordFlags
	var out *string
	if op == "encrypt" || op == "decrypt" {
		pw = m.addPasswordFlags(fs)
		out = fs.String("out", "", "with a single FILE (a raw image): the output file")
	}
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef(fs, "want one acquisition directory or block folder")
	}
	o := imager.TransformOptions{}
	if pw.file != nil {
		p, err := m.password(pw)
		if err != nil {
			return err
		}
		if p == "" {
			return usagef(fs, "a password is needed (--password-file, MATCHMETA_IMAGE_PASSWORD or --password)")
		}
		o.Password = p
	}
	target := fs.Arg(0)
	if st, err := os.Stat(target); err == nil && !st.IsDir() {
		if out == nil || *out == "" {
			return usagef(fs, "a single file needs --out FILE")
		}
		if op == "encrypt" {
			if err := imager.EncryptFile(ctx, target, *out, o.Password, 0); err != nil {
				return err
			}
		} else if err := imager.DecryptFile(ctx, target, *out, o.Password); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "%sed %s into %s\n", op, target, *out)
		return nil
	} else if err != nil {
		return err
	}
	var n int
	err := m.withImaging(ctx, "image "+op, *dbPath, false, func(svc service.Images, p *render.Progress) error {
		var err error
		n, err = svc.ImageTransform(ctx, op, target, o, p.Watch)
		return err
	})
	if err != nil {
		if errors.Is(err, imager.ErrWrongPassword) {
			return fmt.Errorf("%w: nothing was changed", err)
		}
		return err
	}
	render.Transformed(m.Stdout, op, n, target)
	return nil
}
