package flaggroup

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/importer/bundle"
	"github.com/matchmeta/matchmeta/netwatch"
	"github.com/matchmeta/matchmeta/web/daemon"
	"github.com/matchmeta/matchmeta/web/service"
)

// Set are the fields of the set a command makes: --set, --class,
// --source, --desc, --version (import, import paths, bundle create,
// blocks create).
type Set struct {
	Name, Class, Source, Desc, Version string
}

// AddSet registers the fields named (in order) with their default help,
// or note's; class is --class's default.
func AddSet(fs *pflag.FlagSet, fields, class string, note map[string]string) *Set {
	s := &Set{}
	setHelp := map[string]string{
		"set":     "name of the set to create or replace (required)",
		"class":   "what a match means: known, known-bad or notable",
		"source":  "where the data came from (default: the file names)",
		"desc":    "description shown with matches",
		"version": "version of the data",
	}
	ptr := map[string]*string{"set": &s.Name, "class": &s.Class, "source": &s.Source, "desc": &s.Desc, "version": &s.Version}
	for _, f := range strings.Fields(fields) {
		help, def := setHelp[f], ""
		if n, ok := note[f]; ok {
			help = n
		}
		if f == "class" {
			def = class
		}
		fs.StringVar(ptr[f], f, def, help)
	}
	return s
}

// Provenance is --source, --desc and --version.
func (s *Set) Provenance() db.Provenance {
	return db.Provenance{Source: s.Source, Desc: s.Desc, Version: s.Version}
}

// ClassOf is --class as a class.
func (s *Set) ClassOf() db.Class { return db.Class(s.Class) }

// Secret is --password-file, else a password from the environment, else
// (images) --password: Snapshot 4n6ir Imager's flag, visible to other
// users in ps.
type Secret struct {
	env            string
	password, file *string
	// firstLine: the file's first line is the secret (else the whole
	// file without its line ends).
	firstLine bool
}

// AddPassword is the encryption password of images; env is
// $MATCHMETA_IMAGE_PASSWORD.
func AddPassword(fs *pflag.FlagSet, env string) *Secret {
	return &Secret{env: env, firstLine: true,
		password: fs.String("password", "", "encryption password (visible in ps: prefer --password-file or MATCHMETA_IMAGE_PASSWORD)"),
		file:     fs.String("password-file", "", "file whose first line is the password")}
}

// AddFirstLine is a password from the first line of the file named by
// the flag name alone (no environment, no --password).
func AddFirstLine(fs *pflag.FlagSet, name, help string) *Secret {
	return &Secret{firstLine: true, password: new(string), file: fs.String(name, "", help)}
}

// AddKeyPassword is the password of a bundle signing key; env is
// $MATCHMETA_KEY_PASSWORD.
func AddKeyPassword(fs *pflag.FlagSet, env, help string) *Secret {
	return &Secret{env: env, password: new(string), file: fs.String("password-file", "", help)}
}

// Given tells whether the secret's file flag was set.
func (s *Secret) Given() bool { return *s.file != "" }

// Read is the secret: the file's, else the environment's, else --password.
func (s *Secret) Read() (string, error) {
	if *s.file == "" {
		if s.env != "" {
			return s.env, nil
		}
		return *s.password, nil
	}
	data, err := os.ReadFile(*s.file)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	if !s.firstLine {
		return strings.TrimRight(string(data), "\r\n"), nil
	}
	line, _, _ := strings.Cut(string(data), "\n")
	if line = strings.TrimSuffix(line, "\r"); line == "" {
		return "", fmt.Errorf("password file %s: first line is empty", *s.file)
	}
	return line, nil
}

// AddAWS registers the flags of every command that talks to AWS.
func AddAWS(fs *pflag.FlagSet) *imager.Config {
	var c imager.Config
	fs.StringVar(&c.Region, "region", "", "AWS region (default: AWS_REGION or the profile's)")
	fs.StringVar(&c.Profile, "profile", "", "shared config profile (default: AWS_PROFILE or default)")
	fs.StringVar(&c.Endpoint, "endpoint", "", "EBS endpoint URL: VPC or FIPS endpoints, an emulator (AWS_ENDPOINT_URL_EBS works too)")
	fs.DurationVar(&c.Timeout, "timeout", 60*time.Second, "deadline of every single request")
	return &c
}

// Trust is --trust-dir and --insecure-unsigned.
type Trust struct {
	Dir      string
	Insecure bool
	fs       *pflag.FlagSet
	fromEnv  bool
}

// AddTrust registers them; env is $MATCHMETA_TRUST_DIR.
func AddTrust(fs *pflag.FlagSet, env string) *Trust {
	t := &Trust{fs: fs, fromEnv: env != ""}
	def := bundle.DefaultTrustDir
	if env != "" {
		def = env
	}
	fs.StringVar(&t.Dir, "trust-dir", def, "directory of trusted *.pub keys (env MATCHMETA_TRUST_DIR)")
	fs.BoolVar(&t.Insecure, "insecure-unsigned", false, "accept bundles without a signature (never ones with a bad or untrusted signature)")
	return t
}

// Request is the trust of a request: the flags when given (the daemon
// keeps its own --trust-dir otherwise).
func (t *Trust) Request() service.BundleTrust {
	bt := service.BundleTrust{InsecureUnsigned: t.Insecure}
	if t.fs.Changed("trust-dir") || t.fromEnv {
		bt.TrustDir = t.Dir
	}
	return bt
}

// Netwatch are the sweep settings shared by 'serve --netwatch-*' and
// 'netwatch scan'.
type Netwatch struct {
	cfg     daemon.NetwatchConfig
	timeout time.Duration
}

// AddNetwatch registers the sweep flags with names prefixed by prefix.
// With a prefix (serve's) they take their defaults from env, the getter
// of the setting (INTERFACE, CIDR, INTERVAL, ALLOW, OUTPUT, SYSLOG) that
// names it as envName does, and add the daemon's interval and outputs.
func AddNetwatch(fs *pflag.FlagSet, prefix string, env, envName func(string) string) *Netwatch {
	o := &Netwatch{}
	e, note := func(string) string { return "" }, func(string) string { return "" }
	if prefix != "" {
		e, note = env, func(name string) string { return " (env " + envName(name) + ")" }
	}
	list := func(name string) []string {
		if v := e(name); v != "" {
			return strings.Split(v, ",")
		}
		return nil
	}
	c := &o.cfg
	fs.StringVar(&c.Interface, prefix+"interface", e("INTERFACE"), "interface to sweep; netwatch is off without one"+note("INTERFACE"))
	fs.StringVar(&c.CIDR, prefix+"cidr", e("CIDR"), "IPv4 network to sweep, at most a /16 (default: the interface's own)"+note("CIDR"))
	fs.IntVar(&c.Rate, prefix+"rate", netwatch.DefaultRate, "send rate in bits per second on the wire (arp-scan's default)")
	fs.IntVar(&c.Tries, prefix+"tries", netwatch.DefaultTries, "requests per silent host")
	fs.DurationVar(&o.timeout, prefix+"timeout", netwatch.DefaultTimeout, "wait before the second try (grows by 1.5 per try)")
	fs.IntVar(&c.GoneAfter, prefix+"gone-after", netwatch.DefaultGoneAfter, "sweeps a device may miss before it is reported gone")
	fs.StringSliceVar(&c.Allow, prefix+"allow", list("ALLOW"), "allowlist: MACs, or @FILE with one MAC per line; other MACs are unauthorized devices (with the MACs allowed by 'netwatch allow')"+note("ALLOW"))
	if prefix != "" {
		fs.DurationVar(&c.Interval, prefix+"interval", netwatch.DefaultInterval, "time between sweeps"+note("INTERVAL"))
		if d, err := time.ParseDuration(e("INTERVAL")); err == nil {
			c.Interval = d
			fs.Lookup(prefix + "interval").DefValue = e("INTERVAL")
		}
		fs.StringSliceVar(&c.Outputs, prefix+"output", list("OUTPUT"), "append every sweep to FORMAT:PATH (kyn, json, cef, rfc5424; repeatable; reopened on SIGHUP)"+note("OUTPUT"))
		fs.StringVar(&c.Syslog, prefix+"syslog", e("SYSLOG"), "also send RFC 5424 messages to this unix datagram socket, e.g. /dev/log"+note("SYSLOG"))
	}
	return o
}

// Interface is the interface to sweep ("": netwatch is off).
func (o *Netwatch) Interface() string { return o.cfg.Interface }

// Config is the daemon's netwatch settings; its ScanRequest is a sweep's.
func (o *Netwatch) Config() daemon.NetwatchConfig {
	c := o.cfg
	c.TimeoutMS = o.timeout.Milliseconds()
	return c
}
