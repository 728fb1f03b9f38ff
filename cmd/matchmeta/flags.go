package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/db"
)

// Flag groups: the flags several commands share, each registered by one
// function that returns the values parsed.

// setFlags are the fields of the set a command makes: --set, --class,
// --source, --desc, --version (import, import paths, bundle create,
// blocks create).
type setFlags struct {
	set, class, source, desc, version string
}

// setFlagHelp is the help of each set field, changed per command by note.
var setFlagHelp = map[string]string{
	"set":     "name of the set to create or replace (required)",
	"class":   "what a match means: known, known-bad or notable",
	"source":  "where the data came from (default: the file names)",
	"desc":    "description shown with matches",
	"version": "version of the data",
}

// addSetFlags registers the fields named (in order) with their default
// help, or note's; class is --class's default.
func addSetFlags(fs *pflag.FlagSet, fields, class string, note map[string]string) *setFlags {
	s := &setFlags{}
	ptr := map[string]*string{"set": &s.set, "class": &s.class, "source": &s.source, "desc": &s.desc, "version": &s.version}
	for _, f := range strings.Fields(fields) {
		help, def := setFlagHelp[f], ""
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

func (s *setFlags) classOf() db.Class { return db.Class(s.class) }

// secretFlags are --password-file and a password from the environment
// (and, for images, --password: Snapshot 4n6ir Imager's flag, visible to
// other users in ps).
type secretFlags struct {
	env            string
	password, file *string
	// firstLine: the file's first line is the secret (else the whole
	// file without its line ends).
	firstLine bool
}

func addPasswordFlags(fs *pflag.FlagSet) secretFlags {
	return secretFlags{env: "MATCHMETA_IMAGE_PASSWORD", firstLine: true,
		password: fs.String("password", "", "encryption password (visible in ps: prefer --password-file or MATCHMETA_IMAGE_PASSWORD)"),
		file:     fs.String("password-file", "", "file whose first line is the password")}
}

func addKeyPasswordFlag(fs *pflag.FlagSet, help string) secretFlags {
	return secretFlags{env: "MATCHMETA_KEY_PASSWORD", password: new(string), file: fs.String("password-file", "", help)}
}

// read is the secret: the file's, else the environment's, else --password.
func (s secretFlags) read(m *Main) (string, error) {
	if *s.file == "" {
		return m.envOr(s.env, *s.password), nil
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

// absPaths makes inputs absolute, since a daemon opens them from its own
// working directory; "-" (stdin) stays.
func absPaths(files []string) ([]string, error) {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f
		if f == "-" {
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		out[i] = abs
	}
	return out, nil
}
