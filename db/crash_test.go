package db

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestMain doubles as the import child that TestKillImport kills.
func TestMain(m *testing.M) {
	if path := os.Getenv("MATCHMETA_CRASH_CHILD"); path != "" {
		crashChild(path)
		os.Exit(3) // reaching here means the parent never killed us
	}
	if path := os.Getenv("MATCHMETA_BLOCK_CRASH_CHILD"); path != "" {
		blockCrashChild(path)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// crashChild replaces set "base" with a large import, announcing phases on
// stdout, and blocks when done so the parent can kill it at any point.
func crashChild(path string) {
	st, say, opts, ok := openCrashChild(path)
	if !ok {
		return
	}
	imp, err := st.BeginImport(context.Background(), []SetSpec{{Name: "base", Kind: KindSHA256, Class: ClassKnown, Provenance: Provenance{Version: "2"}}}, opts)
	if err != nil {
		say("error " + err.Error())
		return
	}
	b := imp.Builders()[0]
	for i := 0; i < 300000; i++ {
		b.AddKey(hashN(1_000_000 + i))
		if i == 100000 {
			say("sorting")
			time.Sleep(200 * time.Millisecond)
		}
	}
	if _, err := imp.Commit(context.Background()); err != nil {
		say("error " + err.Error())
		return
	}
	say("published")
	select {}
}

// openCrashChild opens the store at path in a kill test's child. say
// writes a line to the parent at once; opts make many small commits (the
// kill lands between them) and say each step of the write phase as
// "write N", slowed so the parent can stop it there.
func openCrashChild(path string) (st *Store, say func(string), opts ImportOptions, ok bool) {
	st, err := Open(context.Background(), path, Options{SortMemory: 1 << 20})
	if err != nil {
		fmt.Println("error", err)
		return nil, nil, opts, false
	}
	out := bufio.NewWriter(os.Stdout)
	say = func(s string) { out.WriteString(s + "\n"); out.Flush() }
	opts = ImportOptions{
		TxBytes: 64 << 10,
		Progress: func(p Progress) {
			if p.Phase == "write" {
				say(fmt.Sprintf("write %d", p.Done))
				time.Sleep(20 * time.Millisecond)
			}
		},
	}
	return st, say, opts, true
}

// killChild runs this test binary again as the child that env (set to
// path) names and SIGKILLs it at the first line it says that at accepts
// (written is N of a "write N" line, else 0). The child publishing or
// failing first, or ending before the kill, fails the test.
func killChild(t *testing.T, env, path string, at func(line string, written int) bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+path)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "error") || line == "published" {
			t.Fatalf("child got to %q before the kill", line)
		}
		var written int
		fmt.Sscanf(line, "write %d", &written)
		if at(line, written) {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("child ended without reaching the kill point")
	}
}

func TestKillImport(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	for _, killAt := range []string{"sorting", "write"} {
		t.Run(killAt, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mm.db")
			st, err := Open(context.Background(), path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var old [][]byte
			for i := 0; i < 5000; i++ {
				old = append(old, hashN(i))
			}
			importHashes(t, st, SetSpec{Name: "base", Kind: KindSHA256, Class: ClassKnown, Provenance: Provenance{Version: "1"}}, old)
			importHashes(t, st, SetSpec{Name: "other", Kind: KindSHA256, Class: ClassNotable}, old[:10])
			st.Close()

			killChild(t, "MATCHMETA_CRASH_CHILD", path, func(line string, written int) bool {
				// In the write phase wait until several transactions committed.
				return strings.HasPrefix(line, killAt) && (killAt != "write" || written >= 200000)
			})

			st, err = Open(context.Background(), path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			si, err := st.Set("base")
			if err != nil {
				t.Fatal(err)
			}
			if si.Version != "1" || si.Count != 5000 {
				t.Fatalf("base after kill: got version %q count %d, want version 1 count 5000", si.Version, si.Count)
			}
			st.View(func(r *Reader) error {
				for i := 0; i < 5000; i += 97 {
					if !r.Verdict(KindSHA256, hashN(i)) {
						t.Errorf("old key %d lost", i)
					}
				}
				for i := 0; i < 1000; i++ {
					if r.Verdict(KindSHA256, hashN(1_000_000+i)) {
						t.Fatalf("key %d of the killed import visible", i)
					}
				}
				return nil
			})
			st.Bolt().View(func(tx *bolt.Tx) error {
				if n := len(dataIDs(tx)); n != 2 {
					t.Errorf("data buckets after reopen: got %d, want 2 (leftovers not removed)", n)
				}
				return nil
			})
			if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".mm.db.sort-*")); len(m) != 0 {
				t.Errorf("sort temp dirs left: %v", m)
			}
			if err := st.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
