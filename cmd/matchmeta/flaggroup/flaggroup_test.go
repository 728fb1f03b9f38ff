package flaggroup

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
)

func TestSecretRead(t *testing.T) {
	dir := t.TempDir()
	two := filepath.Join(dir, "two")
	os.WriteFile(two, []byte("first\r\nsecond\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\nsecond\n"), 0o600)
	for _, tc := range []struct {
		name, env string
		key       bool // a key password (the whole file) rather than an image's
		args      []string
		want      string // the secret, or the error
	}{
		{"flag", "", false, []string{"--password", "p"}, "p"},
		{"env over flag", "e", false, []string{"--password", "p"}, "e"},
		{"file over env", "e", false, []string{"--password-file", two}, "first"},
		{"empty first line", "", false, []string{"--password-file", empty}, "password file " + empty + ": first line is empty"},
		{"key file whole", "", true, []string{"--password-file", two}, "first\r\nsecond"},
		{"key env", "e", true, nil, "e"},
		{"missing file", "", true, []string{"--password-file", filepath.Join(dir, "none")}, "password file: open " + filepath.Join(dir, "none") + ": no such file or directory"},
	} {
		fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
		var s *Secret
		if tc.key {
			s = AddKeyPassword(fs, tc.env, "help")
		} else {
			s = AddPassword(fs, tc.env)
		}
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		got, err := s.Read()
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestTrustRequest(t *testing.T) {
	for _, tc := range []struct {
		env  string
		args []string
		want string // the request's TrustDir: "" leaves the daemon's
	}{
		{"", nil, ""},
		{"", []string{"--trust-dir", "/k"}, "/k"},
		{"/env", nil, "/env"},
	} {
		fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
		tr := AddTrust(fs, tc.env)
		fs.Parse(tc.args)
		if got := tr.Request().TrustDir; got != tc.want {
			t.Errorf("env %q %q: got %q, want %q", tc.env, tc.args, got, tc.want)
		}
	}
}
