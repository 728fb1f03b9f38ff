package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadEnvFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "e.env")
	os.WriteFile(p, []byte("# c\n; c\n\nA=1\nB = \"two words\"\nexport C='x'\nD=\n"), 0o644)
	got, err := ReadEnvFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "two words", "C": "x", "D": ""}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	os.WriteFile(p, []byte("A=1\njunk\n"), 0o644)
	if _, err := ReadEnvFile(p); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad line: %v", err)
	}
}
