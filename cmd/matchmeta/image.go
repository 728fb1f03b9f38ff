package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/flaggroup"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/web/daemon"
	"github.com/matchmeta/matchmeta/web/service"
)

// withImaging runs fn with the imaging service (daemon.ConnectImages: the
// daemon's job when one serves the call's --db, else this process's) and a
// progress view on stderr.
func (m *Main) withImaging(ctx context.Context, c *command.Call, what string, needDB bool, fn func(svc service.Images, p *render.Progress) error) error {
	p := render.NewProgress(m.Stderr, render.ProgressOptions{What: what})
	defer p.Close()
	svc, sock, release, err := daemon.ConnectImages(ctx, m.connect(ctx, c.DB, svcOptions{readOnly: true, log: p.LogWriter()}), needDB)
	if err != nil {
		return err
	}
	defer release()
	if sock != "" {
		fmt.Fprintf(m.Stderr, "matchmeta: the daemon on %s runs this job (its AWS credentials, its view of the files)\n", sock)
	}
	return fn(svc, p)
}

func (m *Main) imageStatusCmd(fs *pflag.FlagSet) command.Run {
	aws := flaggroup.AddAWS(fs)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	return func(ctx context.Context, c *command.Call) error {
		var st imager.Status
		m.withImaging(ctx, c, "image status", false, func(svc service.Images, _ *render.Progress) error {
			st = svc.ImagingStatus(ctx, *aws)
			return nil
		})
		if *asJSON {
			return json.NewEncoder(m.Stdout).Encode(st)
		}
		render.ImagingStatus(m.Stdout, st)
		return nil
	}
}

func (m *Main) imageBudgetCmd(fs *pflag.FlagSet) command.Run {
	aws := flaggroup.AddAWS(fs)
	var o imager.BudgetOptions
	fs.StringVar(&o.Snapshot, "snapshot", "", "snapshot id (required)")
	fs.Float64Var(&o.GetPrice, "get-price", imager.DefaultGetPricePer1000, "USD per 1,000 GetSnapshotBlock calls")
	fs.Float64Var(&o.ListPrice, "list-price", imager.DefaultListPricePer1000, "USD per 1,000 list calls")
	fs.Float64Var(&o.TransferPricePerGiB, "transfer-price", 0, "USD per GiB transferred (0 inside the region; the egress rate outside AWS)")
	asJSON := fs.Bool("json", false, "print the budget as JSON")
	return func(ctx context.Context, c *command.Call) error {
		if o.Snapshot == "" {
			return c.Usagef("--snapshot is required")
		}
		o.Timeout = aws.Timeout
		return m.withImaging(ctx, c, "image budget", false, func(svc service.Images, p *render.Progress) error {
			b, err := svc.ImageBudget(ctx, *aws, o, p.Watch)
			if err != nil || *asJSON {
				return render.Maybe(m.Stdout, true, b, err, nil)
			}
			return b.WriteText(m.Stdout)
		})
	}
}

// imageAcquireCmd is image acquire, and image changed (changed set): only
// the blocks changed since an earlier snapshot, onto a copy of its
// acquisition.
func (m *Main) imageAcquireCmd(changed bool) func(fs *pflag.FlagSet) command.Run {
	return func(fs *pflag.FlagSet) command.Run {
		flags := flaggroup.AddAcquire(fs, changed, m.env("MATCHMETA_IMAGE_PASSWORD"))
		return func(ctx context.Context, c *command.Call) error {
			switch g := flags.Given(); {
			case g.Acquire.Snapshot == "":
				return c.Usagef("the snapshot is required")
			case g.Acquire.Out == "":
				return c.Usagef("--out DIR is required")
			case changed && (g.First == "" || g.Base == ""):
				return c.Usagef("--first and --base are required")
			}
			req, err := flags.Request()
			if err != nil {
				return err
			}
			o := &req.Acquire
			name := "image " + map[bool]string{false: "acquire", true: "changed"}[changed]
			o.ToolVersion = Version
			o.CommandLine = service.RedactPassword(append(strings.Fields("matchmeta "+name), c.Raw...))
			var rep *imager.Report
			err = m.withImaging(ctx, c, name, req.ScanBlocks != "", func(svc service.Images, p *render.Progress) error {
				if req.ScanBlocks != "" && req.ScanOutput == "" {
					// The lines go to --scan-output (opened by whoever runs
					// the job), else to this terminal when the job runs
					// here; a daemon keeps them in the job's report only.
					req.ScanOut, req.ScanSummary = m.Stdout, p.LogWriter()
				}
				var err error
				rep, err = svc.ImageAcquire(ctx, req, p.Watch)
				p.Close()
				return err
			})
			if rep != nil {
				render.Acquisition(m.Stdout, rep, o.Out)
			}
			return err
		}
	}
}

func (m *Main) imageVerifyCmd(fs *pflag.FlagSet) command.Run {
	pw := flaggroup.AddPassword(fs, m.env("MATCHMETA_IMAGE_PASSWORD"))
	asJSON := fs.Bool("json", false, "print the result as JSON")
	return func(ctx context.Context, c *command.Call) error {
		password, err := pw.Read()
		if err != nil {
			return err
		}
		return m.withImaging(ctx, c, "image verify", false, func(svc service.Images, p *render.Progress) error {
			vr, err := svc.ImageVerify(ctx, c.Args[0], imager.VerifyOptions{Password: password}, p.Watch)
			p.Close()
			if vr != nil && *asJSON {
				json.NewEncoder(m.Stdout).Encode(vr)
			} else if vr != nil {
				render.Verify(m.Stdout, vr)
			}
			return err
		})
	}
}

func (m *Main) imageRebuildCmd(fs *pflag.FlagSet) command.Run {
	out := fs.String("out", "", "raw image to write (required)")
	fs.Bool("ext4", false, "accepted for Snapshot 4n6ir Imager users: a raw image needs no file-system step")
	fs.Bool("ntfs", false, "accepted for Snapshot 4n6ir Imager users: a raw image needs no file-system step")
	pw := flaggroup.AddPassword(fs, m.env("MATCHMETA_IMAGE_PASSWORD"))
	return func(ctx context.Context, c *command.Call) error {
		if *out == "" {
			return c.Usagef("want DIR and --out IMAGE")
		}
		password, err := pw.Read()
		if err != nil {
			return err
		}
		return m.withImaging(ctx, c, "image rebuild", false, func(svc service.Images, p *render.Progress) error {
			sum, err := svc.ImageRebuild(ctx, c.Args[0], *out, imager.RebuildOptions{Password: password}, p.Watch)
			if err == nil {
				render.Rebuilt(m.Stdout, *out, sum)
			}
			return err
		})
	}
}

// imageTransformCmd is compress, uncompress, encrypt and decrypt: of the
// block files of an acquisition, or (encrypt, decrypt) of one file into
// --out.
func (m *Main) imageTransformCmd(op string) func(fs *pflag.FlagSet) command.Run {
	return func(fs *pflag.FlagSet) command.Run {
		crypt := op == "encrypt" || op == "decrypt"
		var pw *flaggroup.Secret
		out := new(string)
		if crypt {
			pw = flaggroup.AddPassword(fs, m.env("MATCHMETA_IMAGE_PASSWORD"))
			out = fs.String("out", "", "with a single FILE (a raw image): the output file")
		}
		return func(ctx context.Context, c *command.Call) error {
			var o imager.TransformOptions
			if crypt {
				var err error
				if o.Password, err = pw.Read(); err != nil {
					return err
				}
				if o.Password == "" {
					return c.Usagef("a password is needed (--password-file, MATCHMETA_IMAGE_PASSWORD or --password)")
				}
			}
			target := c.Args[0]
			fi, err := os.Stat(target)
			single := err == nil && !fi.IsDir() // one file, a raw image
			if single && *out == "" {
				return c.Usagef("a single file needs --out FILE")
			}
			return m.withImaging(ctx, c, "image "+op, false, func(svc service.Images, p *render.Progress) error {
				if single {
					err := svc.ImageTransformFile(ctx, op, target, *out, o, p.Watch)
					p.Close()
					if err == nil {
						fmt.Fprintf(m.Stdout, "%sed %s into %s\n", op, target, *out)
					}
					return err
				}
				n, err := svc.ImageTransform(ctx, op, target, o, p.Watch)
				p.Close()
				if err == nil {
					render.Transformed(m.Stdout, op, n, target)
				}
				return err
			})
		}
	}
}
