package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/matchmeta/matchmeta/db"
)

const (
	envOp   = "MATCHMETA_CRASHTEST_OP"
	envDir  = "MATCHMETA_CRASHTEST_DIR"
	envSeed = "MATCHMETA_CRASH_SEED"

	markStart = "crashtest: start"
	markDone  = "crashtest: done"

	// MinKills is the least number of kills inside an operation's run.
	MinKills = 30
)

// Op is one mutating operation under test.
type Op struct {
	// Name identifies the operation in logs and in the child's environment.
	Name string
	// DB is the database file relative to the work directory ("mm.db" when
	// empty).
	DB string
	// Setup writes the state before the operation into dir: the database
	// and the inputs. It runs once; every kill starts from a copy.
	Setup func(t testing.TB, dir string)
	// Run performs the operation on dir: in the child that is killed, and
	// again in the parent to show it completes after a kill.
	Run func(ctx context.Context, dir string) error
	// State describes what the operation changes, for comparison; nil means
	// SetsState of the database (every set's catalog entry and content).
	State func(t testing.TB, dir string) string
	// Accept says whether the state found after a kill is allowed; nil
	// means exactly the state before or the state after the operation.
	Accept func(got, before, after string) bool
	// Kills inside the run, at least MinKills (the default).
	Kills int
	// Resumes marks operations that continue from where a kill left them
	// (an acquisition): then a state that is neither before nor after is
	// fine as long as Accept allows it and the rerun completes.
	Resumes bool
	// ResumeFile, for an operation that Resumes, tells the files a kill
	// may leave for the rerun to continue from (an acquisition's partial
	// image and manifest); any other file a clean run does not leave is
	// stray.
	ResumeFile func(rel string) bool
}

// Result is what one operation went through.
type Result struct {
	Op   string
	Seed uint64
	// Kills landed inside the run; Survived of them passed every check.
	Kills, Survived int
	// RolledBack kills left the previous state, Committed ones the new
	// state (the kill came after the commit but before the child said so),
	// Partial ones a resumable intermediate state.
	RolledBack, Committed, Partial int
	// Late kills came after the run had ended; they are checked but not
	// counted.
	Late int
	// Duration of one uninterrupted run in the child.
	Duration time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("%s: %d/%d kills survived (%d rolled back, %d committed, %d resumable), %d late, run %v, seed %d",
		r.Op, r.Survived, r.Kills, r.RolledBack, r.Committed, r.Partial, r.Late, r.Duration.Round(time.Millisecond), r.Seed)
}

// Run runs op under the harness. In the child process it performs the
// operation and ends the test; in the parent it kills children and checks
// what they leave, failing t on the first problem.
func Run(t *testing.T, op Op) Result {
	t.Helper()
	if op.DB == "" {
		op.DB = "mm.db"
	}
	if op.State == nil {
		op.State = func(t testing.TB, dir string) string { return SetsState(t, filepath.Join(dir, op.DB)) }
	}
	if op.Accept == nil {
		op.Accept = func(got, before, after string) bool { return got == before || got == after }
	}
	if op.Kills < MinKills {
		op.Kills = MinKills
	}
	if os.Getenv(envOp) != "" {
		child(t, op)
		return Result{}
	}

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(envSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envSeed, s, err)
		}
		seed = v
	}
	res := Result{Op: op.Name, Seed: seed}
	t.Logf("crashtest %s: seed %d (%s=%d replays it)", op.Name, seed, envSeed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	root := workRoot(t)
	template := filepath.Join(root, "template")
	if err := os.Mkdir(template, 0o755); err != nil {
		t.Fatal(err)
	}
	op.Setup(t, template)
	inputs := listFiles(t, template)

	// Clean runs in a child: how long one takes (the median of three),
	// and what it leaves.
	var before, after string
	var took []time.Duration
	allowed := map[string]bool{}
	for _, f := range inputs {
		allowed[f] = true
	}
	// Every run uses the same path: operations that record where their
	// input came from (block ingest) then record the same thing.
	work := filepath.Join(root, "work")
	for i := range 3 {
		cal := work
		os.RemoveAll(cal)
		copyDir(t, template, cal)
		before = checkDir(t, op, cal, nil)
		c := startChild(t, op, cal)
		c.waitStart(t)
		if err := c.wait(); err != nil || !c.done() {
			t.Fatalf("crashtest %s: clean run failed: %v\n%s", op.Name, err, c.output())
		}
		took = append(took, c.took)
		got := checkDir(t, op, cal, nil)
		if i > 0 && got != after {
			t.Fatalf("crashtest %s: two clean runs differ:\n%s\n---\n%s", op.Name, after, got)
		}
		after = got
		for _, f := range listFiles(t, cal) {
			allowed[f] = true
		}
		os.RemoveAll(cal)
	}
	slices.Sort(took)
	res.Duration = max(took[1], time.Millisecond)
	if after == before && !op.Resumes {
		t.Fatalf("crashtest %s: the operation changed nothing (state %q)", op.Name, before)
	}

	// Kills are drawn over the clean run's duration; a kill that comes
	// after the run ended narrows the window, since a run measured on a
	// loaded machine can take longer than the runs being killed.
	window := res.Duration
	for attempt := 0; res.Kills < op.Kills; attempt++ {
		if attempt >= 4*op.Kills {
			t.Fatalf("crashtest %s: only %d of %d kills landed inside the run in %d attempts (%d late): the run is too short to kill reliably",
				op.Name, res.Kills, op.Kills, attempt, res.Late)
		}
		dir := work
		os.RemoveAll(dir)
		copyDir(t, template, dir)
		delay := time.Duration(rng.Int64N(int64(window)))
		c := startChild(t, op, dir)
		c.waitStart(t)
		time.Sleep(delay)
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.wait()
		late := c.done()
		where := fmt.Sprintf("crashtest %s: kill %d at %v (seed %d)", op.Name, attempt, delay, seed)
		if c.failed() {
			t.Fatalf("%s: the child failed before the kill:\n%s", where, c.output())
		}
		got := checkDir(t, op, dir, allowed)
		if os.Getenv("MATCHMETA_CRASH_VERBOSE") != "" {
			t.Logf("%s: late=%v before=%v after=%v", where, late, got == before, got == after)
		}
		switch {
		case late && got != after:
			t.Fatalf("%s: the run had completed, but the state is not its result:\ngot:\n%s\nwant:\n%s", where, got, after)
		case late:
		case got == before:
			res.RolledBack++
		case got == after:
			res.Committed++
		case op.Resumes && op.Accept(got, before, after):
			res.Partial++
		default:
			t.Fatalf("%s: the state is neither the one before nor the one after the operation:\ngot:\n%s\nbefore:\n%s\nafter:\n%s", where, got, before, after)
		}
		// The same operation then completes, in this process, and leaves
		// only what a clean run leaves (no resume files either).
		if err := op.Run(context.Background(), dir); err != nil {
			t.Fatalf("%s: rerun after the kill: %v", where, err)
		}
		done := op
		done.ResumeFile = nil
		if got := checkDir(t, done, dir, allowed); got != after {
			t.Fatalf("%s: rerun after the kill gave another state:\ngot:\n%s\nwant:\n%s", where, got, after)
		}
		if late {
			res.Late++
			window = max(window*4/5, time.Millisecond)
		} else {
			res.Kills++
			res.Survived++
		}
		os.RemoveAll(dir)
	}
	t.Logf("crashtest %s", res)
	return res
}

// workRoot is where the copies live: a tmpfs when there is one. A SIGKILL
// leaves the page cache intact, so the medium does not change what a kill
// tests, while fsync on a shared disk would make each kill cost seconds.
func workRoot(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "matchmeta-crashtest-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// child runs the operation and ends the test (the parent kills it first).
func child(t *testing.T, op Op) {
	if os.Getenv(envOp) != op.Name {
		t.SkipNow()
	}
	dir := os.Getenv(envDir)
	fmt.Println(markStart)
	t0 := time.Now()
	if err := op.Run(context.Background(), dir); err != nil {
		fmt.Printf("crashtest: error %v\n", err)
		t.Fatalf("crashtest %s child: %v", op.Name, err)
	}
	// The child times its own run: the parent may read both lines late.
	fmt.Printf("%s %d\n", markDone, time.Since(t0))
	t.SkipNow()
}

type childProc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr bytes.Buffer
	seen   []string
	took   time.Duration // the run, as the child timed it
	isDone bool
}

// testPattern matches exactly the running (sub)test in a -test.run flag.
func testPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func startChild(t *testing.T, op Op, dir string) *childProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+testPattern(t.Name()), "-test.count=1")
	cmd.Env = append(os.Environ(), envOp+"="+op.Name, envDir+"="+dir)
	c := &childProc{cmd: cmd, lines: make(chan string, 64)}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c
}

// waitStart reads the child's output up to the start mark.
func (c *childProc) waitStart(t *testing.T) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				c.cmd.Wait()
				t.Fatalf("crashtest: child ended before starting the operation:\n%s", c.output())
			}
			c.seen = append(c.seen, line)
			if line == markStart {
				return
			}
		case <-timeout:
			c.cmd.Process.Kill()
			t.Fatalf("crashtest: child did not start within a minute:\n%s", c.output())
		}
	}
}

// wait collects the rest of the output and the exit.
func (c *childProc) wait() error {
	for line := range c.lines {
		if ns, ok := strings.CutPrefix(line, markDone+" "); ok {
			c.isDone = true
			n, _ := strconv.ParseInt(ns, 10, 64)
			c.took = time.Duration(n)
		}
		c.seen = append(c.seen, line)
	}
	return c.cmd.Wait()
}

func (c *childProc) done() bool { return c.isDone }

func (c *childProc) failed() bool {
	for _, l := range c.seen {
		if strings.HasPrefix(l, "crashtest: error") {
			return true
		}
	}
	return false
}

func (c *childProc) output() string {
	return strings.Join(c.seen, "\n") + "\n" + c.stderr.String()
}

// checkDir opens the database as the next start would, checks it, looks
// for partial sets and (when allowed is given) stray files, and returns
// the operation's state.
func checkDir(t *testing.T, op Op, dir string, allowed map[string]bool) string {
	t.Helper()
	path := filepath.Join(dir, op.DB)
	if _, err := os.Stat(path); err == nil {
		st, err := db.Open(context.Background(), path, db.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("crashtest %s: open after the kill: %v", op.Name, err)
		}
		err = st.Check()
		st.Close()
		if err != nil {
			t.Fatalf("crashtest %s: check after the kill: %v", op.Name, err)
		}
		if err := NoPartialSets(path); err != nil {
			t.Fatalf("crashtest %s: %v", op.Name, err)
		}
	}
	if allowed != nil {
		for _, f := range listFiles(t, dir) {
			if !allowed[f] && (op.ResumeFile == nil || !op.ResumeFile(f)) {
				t.Fatalf("crashtest %s: stray file %s after the next open", op.Name, f)
			}
		}
	}
	return op.State(t, dir)
}

// listFiles lists every file and directory under dir, relative to it.
func listFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm())
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("crashtest: copy %s: not a regular file", p)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The store's file layout, read directly so the harness judges the file
// itself rather than what the store chooses to show: the "sets" bucket
// holds the catalog (name -> JSON), and each index of set ID is a
// top-level bucket 'x' + ID (uint32 big-endian) + index letter.
var bucketSets = []byte("sets")

type catalogEntry struct {
	raw   map[string]any
	ids   []uint32 // data IDs it owns: the base, a delta layer, a file store
	state string
}

func readCatalog(tx *bolt.Tx) (map[string]catalogEntry, error) {
	b := tx.Bucket(bucketSets)
	if b == nil {
		return nil, fmt.Errorf("no catalog bucket")
	}
	cat := map[string]catalogEntry{}
	err := b.ForEach(func(k, v []byte) error {
		var raw map[string]any
		if err := json.Unmarshal(v, &raw); err != nil {
			return fmt.Errorf("catalog entry %q: %w", k, err)
		}
		e := catalogEntry{raw: raw}
		for _, id := range []any{raw["id"], raw["files_id"]} {
			if f, ok := id.(float64); ok && f > 0 {
				e.ids = append(e.ids, uint32(f))
			}
		}
		if d, ok := raw["delta"].(map[string]any); ok {
			if f, ok := d["id"].(float64); ok && f > 0 {
				e.ids = append(e.ids, uint32(f))
			}
		}
		e.state, _ = raw["state"].(string)
		cat[string(k)] = e
		return nil
	})
	return cat, err
}

// dataBuckets maps set IDs to the names of their index buckets.
func dataBuckets(tx *bolt.Tx) map[uint32][][]byte {
	ids := map[uint32][][]byte{}
	tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		if len(name) == 6 && name[0] == 'x' {
			id := binary.BigEndian.Uint32(name[1:5])
			ids[id] = append(ids[id], append([]byte(nil), name...))
		}
		return nil
	})
	return ids
}

// NoPartialSets reports a catalog entry that is not ready, or set data
// that no catalog entry owns (an interrupted import not cleaned up).
func NoPartialSets(path string) error {
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer bdb.Close()
	return bdb.View(func(tx *bolt.Tx) error {
		cat, err := readCatalog(tx)
		if err != nil {
			return err
		}
		owned := map[uint32]string{}
		for name, e := range cat {
			if e.state != string(db.StateReady) {
				return fmt.Errorf("partial set: %s is %q in the catalog", name, e.state)
			}
			for _, id := range e.ids {
				owned[id] = name
			}
		}
		for id := range dataBuckets(tx) {
			if _, ok := owned[id]; !ok {
				return fmt.Errorf("partial set: data of set ID %d, which no catalog entry owns", id)
			}
		}
		return nil
	})
}

// SetsState is every set in the file, one line each: its catalog entry
// without the fields that differ between two runs of the same operation or
// only say how the data is laid out or what the last run read (IDs, import
// time, a delta layer not merged yet, values read), with its content
// fingerprint, which the store's Check has
// recomputed from the data. A set without a fingerprint gets a SHA-256 of
// every key and value of its indexes instead. Two files give the same text
// exactly when they hold the same sets with the same content.
func SetsState(t testing.TB, path string) string {
	t.Helper()
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return "(no database)"
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("crashtest: open %s: %v", path, err)
	}
	defer bdb.Close()
	var lines []string
	err = bdb.View(func(tx *bolt.Tx) error {
		cat, err := readCatalog(tx)
		if err != nil {
			return err
		}
		data := dataBuckets(tx)
		for name, e := range cat {
			for _, k := range []string{"id", "imported", "files_id", "delta", "input"} {
				delete(e.raw, k)
			}
			meta, _ := json.Marshal(e.raw) // map keys are sorted
			if _, ok := e.raw["fingerprint"]; ok {
				lines = append(lines, fmt.Sprintf("%s %s", name, meta))
				continue
			}
			h := sha256.New()
			for _, bn := range data[e.ids[0]] {
				h.Write(bn[5:])
				tx.Bucket(bn).ForEach(func(k, v []byte) error {
					var n [8]byte
					binary.BigEndian.PutUint32(n[:4], uint32(len(k)))
					binary.BigEndian.PutUint32(n[4:], uint32(len(v)))
					h.Write(n[:])
					h.Write(k)
					h.Write(v)
					return nil
				})
			}
			lines = append(lines, fmt.Sprintf("%s %s content=%s", name, meta, hex.EncodeToString(h.Sum(nil))[:16]))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("crashtest: read %s: %v", path, err)
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		return "(no sets)"
	}
	return strings.Join(lines, "\n")
}
