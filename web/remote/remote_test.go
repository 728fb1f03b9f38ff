package remote_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/dbtest"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/importer/bloom"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/remote"
	"github.com/matchmeta/matchmeta/web/service"
)

// daemon is a real Local service over a real store, served on a real admin
// socket in t.TempDir() by web's one route table, and the remote client
// that talks to it.
type daemon struct {
	st     *db.Store
	local  *service.Local
	remote *remote.Client
	dir    string
	sock   string
}

func startDaemon(t *testing.T, cfg remote.Config) *daemon {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st := dbtest.Open(t)
	log := slog.New(slog.DiscardHandler)
	local, err := service.NewLocal(service.Config{Store: st, Logger: log, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close(context.Background()) })
	sock := filepath.Join(dir, "admin.sock")
	srv, err := web.New(web.Config{Store: st, Service: local, Logger: log, Listen: "127.0.0.1:0", Version: "test", AdminSocket: sock})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	cfg.Socket, cfg.DB = sock, st.Path()
	c, err := remote.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &daemon{st: st, local: local, remote: c, dir: dir, sock: sock}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return strings.ToUpper(hex.EncodeToString(h[:]))
}

// write puts a file in the daemon's directory and returns its path.
func (d *daemon) write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(d.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// same fails unless the two values encode to the same JSON: what the
// remote client returns is what the local service returns.
func same(t *testing.T, what string, remote, local any) {
	t.Helper()
	r, _ := json.Marshal(remote)
	l, _ := json.Marshal(local)
	if !bytes.Equal(r, l) {
		t.Errorf("%s:\n remote %s\n local  %s", what, r, l)
	}
}

// TestRemoteOperations calls every operation of the core areas through
// the admin socket and checks each answer against the local service's
// answer to the same call (or, for changes, against what the store then
// holds).
func TestRemoteOperations(t *testing.T) {
	ctx := context.Background()
	d := startDaemon(t, remote.Config{})
	rc, lc := d.remote, d.local

	// Imports: a file the daemon reads in place, with progress events.
	list := d.write(t, "known.txt", sha256Hex("notepad")+"\n"+sha256Hex("calc")+"\nnot a hash\n")
	var events int
	res, err := rc.Import(ctx, importer.Request{Format: importer.FormatSHA256, Set: "known", Class: db.ClassKnown, Provenance: db.Provenance{Version: "1"}, Files: []string{list}},
		func(progress.Event) { events++ })
	if err != nil {
		t.Fatal(err)
	}
	if res.Values != 2 || res.Bad != 1 || len(res.Sets) != 1 || res.Sets[0].Name != "known" {
		t.Errorf("import: got %d values, %d bad, sets %+v; want 2, 1, [known]", res.Values, res.Bad, res.Sets)
	}
	if events == 0 {
		t.Error("import: no progress event reached the caller")
	}
	paths := d.write(t, "gold.txt", "C:\\Windows\\System32\\svchost.exe\nC:\\Windows\\notepad.exe\n")
	pres, err := rc.ImportPaths(ctx, importer.PathsRequest{Set: "gold", Profile: "WIN2K16", Class: db.ClassKnown, Files: []string{paths}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pres.Values != 2 {
		t.Errorf("import paths: got %d values, want 2", pres.Values)
	}

	// Lookups.
	for _, v := range []string{sha256Hex("notepad"), sha256Hex("nobody"), "C:\\Windows\\System32\\scvhost.exe"} {
		for _, o := range []service.LookupOptions{{}, {Detail: service.DetailVerdict}, {Type: db.KindPath, Detail: service.DetailSets}} {
			if o.Type == db.KindPath && !strings.Contains(v, `\`) {
				continue
			}
			ra, rerr := rc.Lookup(ctx, v, o)
			la, lerr := lc.Lookup(ctx, v, o)
			if rerr != nil || lerr != nil {
				t.Fatalf("lookup %s: remote %v, local %v", v, rerr, lerr)
			}
			same(t, "lookup "+v, ra, la)
		}
	}
	key, _ := hex.DecodeString(sha256Hex("calc"))
	if ok, err := rc.Verdict(ctx, db.KindSHA256, key); !ok || err != nil {
		t.Errorf("verdict: got %v, %v; want true", ok, err)
	}
	in := sha256Hex("notepad") + "\n" + sha256Hex("nobody") + "\nDEADBEEF\n" // 8 hex digits: refused unless typed
	var rout, lout bytes.Buffer
	rst, rerr := rc.LookupStream(ctx, strings.NewReader(in), &rout, service.StreamOptions{Format: service.StreamText})
	lst, lerr := lc.LookupStream(ctx, strings.NewReader(in), &lout, service.StreamOptions{Format: service.StreamText})
	if rerr != nil || lerr != nil {
		t.Fatalf("stream: remote %v, local %v", rerr, lerr)
	}
	if rout.String() != lout.String() {
		t.Errorf("stream answers:\n remote %s\n local  %s", rout.String(), lout.String())
	}
	if rst.Values != 3 || rst.OK != 1 || rst.NA != 1 || rst.Rejected != 1 {
		t.Errorf("stream stats: got %+v, want 3 values: 1 OK, 1 NA, 1 rejected", rst)
	}
	same(t, "stream stats", rst.Values, lst.Values)

	// Sets.
	rsets, _ := rc.Sets(ctx)
	lsets, _ := lc.Sets(ctx)
	same(t, "sets", rsets, lsets)
	rs, rerr := rc.Set(ctx, "known")
	ls, _ := lc.Set(ctx, "known")
	if rerr != nil {
		t.Fatal(rerr)
	}
	same(t, "set", rs, ls)
	rh, _ := rc.History(ctx, 0)
	lh, _ := lc.History(ctx, 0)
	same(t, "history", rh, lh)
	if len(rh) < 2 {
		t.Errorf("history: %d events, want the two imports", len(rh))
	}

	// Profiles.
	rp, _ := rc.Profiles(ctx)
	lp, _ := lc.Profiles(ctx)
	same(t, "profiles", rp, lp)
	prof := db.Profile{Name: "LAB1", OS: db.OSWindows, DefaultUser: "analyst", Description: "lab build"}
	if changed, err := rc.PutProfile(ctx, prof); !changed || err != nil {
		t.Fatalf("put profile: got %v, %v; want changed", changed, err)
	}
	if changed, err := rc.PutProfile(ctx, prof); changed || err != nil {
		t.Errorf("put profile again: got %v, %v; want unchanged", changed, err)
	}

	// Keys.
	nk, err := rc.AddAPIKey(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	// Keys are verified where the requests arrive, by the daemon itself.
	if _, _, err := rc.VerifyAPIKey(ctx, nk.Key); db.KindOf(err) != db.ErrorUnsupported {
		t.Errorf("remote verify: got %v, want kind unsupported", err)
	}
	if name, ok, err := lc.VerifyAPIKey(ctx, nk.Key); name != "ci" || !ok || err != nil {
		t.Errorf("local verify of the key made remotely: got %q %v %v", name, ok, err)
	}
	rk, _ := rc.APIKeys(ctx)
	lk, _ := lc.APIKeys(ctx)
	same(t, "keys", rk, lk)
	if err := rc.RevokeAPIKey(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := lc.VerifyAPIKey(ctx, nk.Key); ok {
		t.Error("a key revoked remotely still verifies")
	}

	// Exports.
	var rbloom, lbloom bytes.Buffer
	rbr, rerr := rc.ExportBloom(ctx, bloom.ExportRequest{Sets: []string{"known"}}, &rbloom)
	lbr, lerr := lc.ExportBloom(ctx, bloom.ExportRequest{Sets: []string{"known"}}, &lbloom)
	if rerr != nil || lerr != nil {
		t.Fatalf("export: remote %v, local %v", rerr, lerr)
	}
	same(t, "export result", rbr, lbr)
	if !bytes.Equal(rbloom.Bytes(), lbloom.Bytes()) || rbloom.Len() == 0 {
		t.Errorf("export: remote filter %d bytes, local %d, want the same bytes", rbloom.Len(), lbloom.Len())
	}

	// Backups: a copy that verifies and holds the sets.
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	f, err := os.Create(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	n, err := rc.Backup(ctx, f)
	f.Close()
	if err != nil || n == 0 {
		t.Fatalf("backup: %d bytes, %v", n, err)
	}
	rep, err := db.VerifyBackup(ctx, copyPath)
	if err != nil || len(rep.Sets) != len(lsets) {
		t.Errorf("backup copy: %v, %d sets, want %d", err, len(rep.Sets), len(lsets))
	}
	if _, err := rc.Compact(ctx, nil); err != nil {
		t.Errorf("compact: %v", err)
	}

	// Jobs: the imports and the compaction are listed, as locally.
	rj, _ := rc.Jobs(ctx)
	lj, _ := lc.Jobs(ctx)
	if len(rj) < 3 || len(rj) != len(lj) {
		t.Fatalf("jobs: remote %d, local %d, want at least the 3 jobs run", len(rj), len(lj))
	}
	for i := range rj {
		if rj[i].ID != lj[i].ID || rj[i].Kind != lj[i].Kind || rj[i].State != lj[i].State {
			t.Errorf("job %d: remote %+v, local %+v", i, rj[i], lj[i])
		}
	}
	if j, err := rc.Job(ctx, rj[0].ID); err != nil || j.ID != rj[0].ID || j.State != service.JobDone {
		t.Errorf("job %s: got %+v, %v", rj[0].ID, j, err)
	}

	// Status.
	ri, err := rc.Info(ctx)
	li, _ := lc.Info(ctx)
	if err != nil || ri.DB != li.DB || ri.Version != li.Version || ri.PID != li.PID || ri.Schema != db.SchemaVersion {
		t.Errorf("info: remote %+v (%v), local %+v", ri, err, li)
	}
	if err := rc.Health(ctx); err != nil {
		t.Errorf("health: %v", err)
	}

	// Netwatch's store side.
	mac, _ := db.ParseMAC("00:50:56:00:01:a2")
	if mk, err := rc.NetwatchAllow(ctx, mac, "printer"); err != nil || mk.Label != "printer" {
		t.Errorf("netwatch allow: %+v, %v", mk, err)
	}
	rdev, _ := rc.NetwatchDevices(ctx)
	ldev, _ := lc.NetwatchDevices(ctx)
	same(t, "netwatch devices", rdev, ldev)
	rev, _ := rc.NetwatchEvents(ctx, 0, 10)
	lev, _ := lc.NetwatchEvents(ctx, 0, 10)
	same(t, "netwatch events", rev, lev)

	// Removing a set, last: the store no longer has it.
	removed, err := rc.RemoveSet(ctx, "known")
	if err != nil || !reflect.DeepEqual(removed, []string{"known"}) {
		t.Fatalf("remove: %v, %v", removed, err)
	}
	if _, err := lc.Set(ctx, "known"); db.KindOf(err) != db.ErrorNotFound {
		t.Errorf("after a remote remove: local Set: %v, want not found", err)
	}
}

// TestRemoteErrorKinds: an error crosses the socket with its kind (the
// one status map on the daemon's side, rebuilt by the client) and its user
// message, so the CLI words and exits the same with a daemon or without.
func TestRemoteErrorKinds(t *testing.T) {
	ctx := context.Background()
	d := startDaemon(t, remote.Config{})
	rc, lc := d.remote, d.local
	bad := d.write(t, "bad.txt", "zz\n")
	for _, tc := range []struct {
		name string
		want db.ErrorKind
		call func(s service.Service) error
	}{
		{"unknown set", db.ErrorNotFound, func(s service.Service) error { _, err := s.Set(ctx, "nope"); return err }},
		{"unknown group", db.ErrorNotFound, func(s service.Service) error { _, err := s.Group(ctx, "nope"); return err }},
		{"remove unknown set", db.ErrorNotFound, func(s service.Service) error { _, err := s.RemoveSet(ctx, "nope"); return err }},
		{"revoke unknown key", db.ErrorNotFound, func(s service.Service) error { return s.RevokeAPIKey(ctx, "nope") }},
		{"bad key name", db.ErrorInvalid, func(s service.Service) error { _, err := s.AddAPIKey(ctx, "-bad name"); return err }},
		{"unknown job", db.ErrorNotFound, func(s service.Service) error { _, err := s.Job(ctx, "999"); return err }},
		{"bad hash", db.ErrorInvalid, func(s service.Service) error {
			_, err := s.Lookup(ctx, "zz", service.LookupOptions{Type: db.KindSHA256})
			return err
		}},
		{"bad stream type", db.ErrorInvalid, func(s service.Service) error {
			_, err := s.LookupStream(ctx, strings.NewReader("x\n"), io.Discard, service.StreamOptions{Type: "crc64"})
			return err
		}},
		{"export of no set", db.ErrorNotFound, func(s service.Service) error {
			_, err := s.ExportBloom(ctx, bloom.ExportRequest{Sets: []string{"nope"}}, io.Discard)
			return err
		}},
		{"strict import of a bad line", db.ErrorInvalid, func(s service.Service) error {
			_, err := s.Import(ctx, importer.Request{Format: importer.FormatSHA256, Set: "strict", Class: db.ClassKnown, Strict: true, Files: []string{bad}}, nil)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lerr := tc.call(lc)
			rerr := tc.call(rc)
			if db.KindOf(lerr) != tc.want {
				t.Fatalf("local: got %v (kind %v), want kind %v", lerr, db.KindOf(lerr), tc.want)
			}
			if db.KindOf(rerr) != tc.want {
				t.Errorf("remote: got %v (kind %v), want kind %v", rerr, db.KindOf(rerr), tc.want)
			}
			if rm := db.Message(rerr); rm == "" || strings.HasPrefix(rm, "admin socket") {
				t.Errorf("message: remote %q (local %q); want the daemon's own words", rm, db.Message(lerr))
			}
		})
	}
}

// TestRemoteUpload: with ForceUpload the files and stdin are streamed into
// the daemon's spool instead of read in place; the set is the same, and
// the source still names the file as the user gave it.
func TestRemoteUpload(t *testing.T) {
	ctx := context.Background()
	body := sha256Hex("notepad") + "\n" + sha256Hex("calc") + "\n"
	var notes []string
	d := startDaemon(t, remote.Config{ForceUpload: true, Stdin: strings.NewReader(body), Notify: func(m string) { notes = append(notes, m) }})
	list := d.write(t, "list.txt", body)
	for _, files := range [][]string{{list}, {"-"}} {
		set := "up-" + fmt.Sprint(len(files[0]))
		res, err := d.remote.Import(ctx, importer.Request{Format: importer.FormatSHA256, Set: set, Class: db.ClassKnown, Files: files}, nil)
		if err != nil {
			t.Fatalf("%v: %v", files, err)
		}
		if res.Values != 2 {
			t.Errorf("%v: %d values, want 2", files, res.Values)
		}
		si, err := d.local.Set(ctx, set)
		if err != nil {
			t.Fatal(err)
		}
		if files[0] != "-" && !strings.Contains(si.Source, "list.txt") {
			t.Errorf("%v: source %q, want the file's name", files, si.Source)
		}
	}
	if len(notes) == 0 {
		t.Error("no notice that the inputs were sent")
	}
}

// TestDialOtherDatabase: a daemon serving another file is not ours.
func TestDialOtherDatabase(t *testing.T) {
	d := startDaemon(t, remote.Config{})
	_, err := remote.Dial(context.Background(), remote.Config{Socket: d.sock, DB: filepath.Join(t.TempDir(), "other.db")})
	if !errors.Is(err, remote.ErrNoDaemon) {
		t.Errorf("other database: got %v, want ErrNoDaemon", err)
	}
	_, err = remote.Dial(context.Background(), remote.Config{Socket: filepath.Join(t.TempDir(), "none.sock"), DB: d.st.Path()})
	if !errors.Is(err, remote.ErrNoDaemon) {
		t.Errorf("no socket: got %v, want ErrNoDaemon", err)
	}
}
