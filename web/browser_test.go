package web

import (
	"context"
	"encoding/csv"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The browser test drives the real page in Debian's headless Chromium: what
// an examiner sees, with the stylesheet applied and no JavaScript of ours.

// chromiumPath finds Chromium or skips (fails under CI, which installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("MATCHMETA_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	msg := "chromium not found (Debian package chromium: apt-get install -y chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// screenshotDir is MATCHMETA_SCREENSHOTS when set (kept for a person to
// look at), else a temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("MATCHMETA_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// newBrowser starts Chromium with a fresh profile and returns a tab.
func newBrowser(t *testing.T, execPath string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions"),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// screenshot saves a full-page PNG of the tab as dir/name.png.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

func computedStyle(t *testing.T, ctx context.Context, sel string) map[string]string {
	t.Helper()
	props, err := chromedp.Run(ctx, chromedp.ComputedStyle(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("computed style of %s: %v", sel, err)
	}
	m := make(map[string]string, len(props))
	for _, p := range props {
		m[p.Name] = p.Value
	}
	return m
}

func TestBrowserPage(t *testing.T) {
	execPath := chromiumPath(t)
	ts := startServer(t, fixtureStore(t), nil)
	shots := screenshotDir(t)
	bctx := newBrowser(t, execPath)
	ctx, cancel := context.WithTimeout(bctx, 45*time.Second)
	defer cancel()

	// Every request the page makes, to check that nothing leaves loopback.
	var mu sync.Mutex
	var requests []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	// The lab's colours in light mode, whatever the machine prefers.
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}},
	}); err != nil {
		t.Fatal(err)
	}

	shot := func(t *testing.T, name string) { t.Helper(); screenshot(t, ctx, shots, name) }
	// submit clicks a button and waits for the page it leads to.
	submit := func(t *testing.T, button string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.ID(button)))); err != nil {
			t.Fatalf("click #%s: %v", button, err)
		}
	}
	navigate := func(t *testing.T, path string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+path)); err != nil {
			t.Fatalf("navigate %s: %v", path, err)
		}
	}

	// Colours of style.css (light scheme), as the browser computes them.
	const (
		known   = "rgb(27, 110, 52)"
		bad     = "rgb(164, 0, 29)"
		notable = "rgb(138, 82, 0)"
		na      = "rgb(61, 79, 92)"
	)
	for _, tc := range []struct {
		name, value, typ string
		verdict, class   string   // data-verdict, data-class
		word, colour     string   // the headline, its colour
		sets             []string // in #matches
		text             []string // elsewhere on the page
	}{
		{"known-sha256", knownSHA256, "", "OK", "known", "KNOWN", known, []string{"nsrl-sha256"}, []string{"notepad", "Windows 10", "193,536"}},
		{"known-lowercase-sha1", strings.ToLower(knownSHA1), "", "OK", "known", "KNOWN", known, []string{"nsrl-sha1"}, []string{"Windows 10"}},
		{"unknown", unknown256, "", "NA", "", "UNKNOWN", na, nil, []string{"not in any set"}},
		{"known-bad", badSHA256, "", "OK", "known-bad", "KNOWN BAD", bad, []string{"case-42-bad"}, []string{"known bad"}},
		{"bad-and-nsrl", bothSHA256, "", "OK", "known-bad", "KNOWN BAD", bad, []string{"nsrl-sha256", "case-42-bad"}, []string{"psexec", "Sysinternals Suite"}},
		{"notable-md5", notableMD5, "", "OK", "notable", "NOTABLE", notable, []string{"tools-md5"}, []string{"notable"}},
		{"file-name", "NOTEPAD.EXE", "", "OK", "known", "KNOWN", known, []string{"nsrl-names"}, []string{"case differs"}},
		{"forced-type", knownSHA256, "md5", "", "", "", bad, nil, []string{"md5 must be 32 hex digits"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			navigate(t, "/")
			if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("q"), tc.value)); err != nil {
				t.Fatal(err)
			}
			if tc.typ != "" {
				if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("type"), tc.typ)); err != nil {
					t.Fatal(err)
				}
			}
			submit(t, "search-submit")
			loc, err := chromedp.Run(ctx, chromedp.Location())
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Query().Get("q"); got != tc.value {
				t.Errorf("form sent q=%q, want %q", got, tc.value)
			}
			if tc.verdict == "" { // rejected input: the error box, no verdict
				msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("error")))
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range tc.text {
					if !strings.Contains(msg, s) {
						t.Errorf("#error says %q, want %q in it", msg, s)
					}
				}
				if c := computedStyle(t, ctx, "#error")["color"]; c != tc.colour {
					t.Errorf("#error colour %s, want %s", c, tc.colour)
				}
				n, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("#verdict"), chromedp.AtLeast(0)))
				if err != nil {
					t.Fatal(err)
				}
				if len(n) != 0 {
					t.Error("a rejected value shows a verdict")
				}
				shot(t, "search-"+tc.name)
				return
			}
			attrs, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.ID("verdict")))
			if err != nil {
				t.Fatal(err)
			}
			if attrs["data-verdict"] != tc.verdict || attrs["data-class"] != tc.class {
				t.Errorf("verdict data %q/%q, want %q/%q", attrs["data-verdict"], attrs["data-class"], tc.verdict, tc.class)
			}
			word, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#verdict .word")))
			if err != nil {
				t.Fatal(err)
			}
			if word != tc.word {
				t.Errorf("verdict word %q, want %q", word, tc.word)
			}
			// The plain-text verdict stays beside the headline.
			plainWord, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("verdict-plain")))
			if err != nil {
				t.Fatal(err)
			}
			if plainWord != tc.verdict {
				t.Errorf("plain verdict %q, want %q", plainWord, tc.verdict)
			}
			st := computedStyle(t, ctx, "#verdict")
			if st["color"] != tc.colour || st["border-top-color"] != tc.colour {
				t.Errorf("verdict colour %s border %s, want %s", st["color"], st["border-top-color"], tc.colour)
			}
			if st["display"] != "flex" {
				t.Errorf("verdict display %q: the stylesheet did not apply", st["display"])
			}
			// The word is large: the verdict is what an examiner reads first.
			if fs := computedStyle(t, ctx, "#verdict .word")["font-size"]; fs != "64px" {
				t.Errorf("verdict font size %s, want 64px", fs)
			}
			body, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("main")))
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.sets) > 0 {
				m, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("matches")))
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range tc.sets {
					if !strings.Contains(m, s) {
						t.Errorf("#matches %q lacks set %q", m, s)
					}
				}
			} else if strings.Contains(body, "Sets that hold it") {
				t.Error("NA answer lists sets")
			}
			for _, s := range tc.text {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			shot(t, "search-"+tc.name)
		})
	}

	t.Run("bulk", func(t *testing.T) {
		navigate(t, "/bulk")
		lines := []string{knownSHA256, "# a comment", unknown256, badSHA256, "", "svchost.exe", notableMD5}
		want := []struct{ verdict, class, value string }{
			{"OK", "known", knownSHA256}, {"NA", "", unknown256}, {"OK", "known-bad", badSHA256},
			{"OK", "known", "svchost.exe"}, {"OK", "notable", notableMD5},
		}
		// Typed as a person would, Enter between lines.
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("bulk"), strings.Join(lines, "\n"))); err != nil {
			t.Fatal(err)
		}
		submit(t, "bulk-submit")
		rows, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("#bulk-results tbody tr"), chromedp.AtLeast(0)))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(want) {
			t.Fatalf("%d result rows, want %d", len(rows), len(want))
		}
		for i, w := range want {
			cells, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#bulk-results tbody tr:nth-child("+strconv.Itoa(i+1)+")")))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(cells, w.verdict) || !strings.Contains(cells, w.value) || !strings.Contains(cells, w.class) {
				t.Errorf("row %d: %q, want %s %s %s", i, cells, w.verdict, w.class, w.value)
			}
		}
		sum, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("bulk-summary")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sum, "4 OK") || !strings.Contains(sum, "1 NA") {
			t.Errorf("summary %q, want 4 OK and 1 NA", sum)
		}
		// Row colours follow the class.
		if c := computedStyle(t, ctx, "#bulk-results tbody tr:nth-child(3) td:nth-child(2)")["color"]; c != bad {
			t.Errorf("known-bad row colour %s, want %s", c, bad)
		}
		shot(t, "bulk")

		// The CSV button downloads the same answers (the textarea kept them).
		dl := t.TempDir()
		if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dl, EventsEnabled: ptrTo(true),
		}); err != nil {
			t.Fatal(err)
		}
		progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("bulk-csv"))); err != nil {
			t.Fatal(err)
		}
		var file string
		for ev, err := range progress {
			if err != nil {
				t.Fatalf("waiting for the CSV download: %v", err)
			}
			if ev.State == browser.DownloadProgressStateCanceled {
				t.Fatal("CSV download canceled")
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				file = filepath.Join(dl, ev.GUID)
				break
			}
		}
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatalf("CSV: %v", err)
		}
		if len(recs) != len(want)+1 {
			t.Fatalf("CSV has %d records, want a header and %d rows: %q", len(recs), len(want), recs)
		}
		for i, w := range want {
			r := recs[i+1]
			if len(r) < 4 || r[0] != w.value || r[2] != w.verdict || r[3] != w.class {
				t.Errorf("CSV row %d: %q, want %s %s %s", i, r, w.value, w.verdict, w.class)
			}
		}
	})

	t.Run("status", func(t *testing.T) {
		navigate(t, "/")
		submit(t, "nav-status")
		sets, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("#sets tbody tr"), chromedp.AtLeast(0)))
		if err != nil {
			t.Fatal(err)
		}
		if len(sets) != 6 {
			t.Errorf("%d set rows, want 6", len(sets))
		}
		txt, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("sets")))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"nsrl-sha256", "2024.03.1", "case-42-bad", "known-bad", "tools-md5", "notable", "nsrl-names"} {
			if !strings.Contains(txt, s) {
				t.Errorf("#sets lacks %q", s)
			}
		}
		for _, id := range []string{"db-size", "uptime"} {
			v, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(v) == "" {
				t.Errorf("#%s is empty", id)
			}
		}
		if v, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("db-size"))); !strings.HasSuffix(v, "B") {
			t.Errorf("#db-size %q is not a size", v)
		}
		shot(t, "status")
	})

	t.Run("phone", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2))); err != nil {
			t.Fatal(err)
		}
		defer chromedp.Do(ctx, chromedp.ResetViewport())
		navigate(t, "/?q="+badSHA256)
		// Nothing wider than the screen: no sideways scrolling for the verdict.
		box, err := chromedp.Run(ctx, chromedp.Dimensions(chromedp.ID("verdict")))
		if err != nil {
			t.Fatal(err)
		}
		if w := box.Width; w > 390 || w < 200 {
			t.Errorf("verdict is %d px wide on a 390 px screen", w)
		}
		shot(t, "phone-known-bad")
	})

	t.Run("accessible", func(t *testing.T) {
		// Every form control has a label, on every page.
		for _, p := range []string{"/", "/bulk"} {
			navigate(t, p)
			ctrls, err := chromedp.Run(ctx, chromedp.AttributesAll(chromedp.CSSAll("input, select, textarea"), chromedp.AtLeast(0)))
			if err != nil {
				t.Fatal(err)
			}
			if len(ctrls) == 0 {
				t.Fatalf("%s: no form controls", p)
			}
			for _, a := range ctrls {
				if a["type"] == "hidden" || a["aria-label"] != "" {
					continue
				}
				n, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(`label[for="`+a["id"]+`"]`), chromedp.AtLeast(0)))
				if err != nil {
					t.Fatal(err)
				}
				if a["id"] == "" || len(n) == 0 {
					t.Errorf("%s: control %v has no label", p, a)
				}
			}
			scripts, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("script"), chromedp.AtLeast(0)))
			if err != nil {
				t.Fatal(err)
			}
			if len(scripts) > 0 {
				t.Errorf("%s has %d script elements; the page works without JavaScript", p, len(scripts))
			}
		}
	})

	t.Run("netwatch", func(t *testing.T) {
		fillInventory(t, ts.st)
		navigate(t, "/")
		submit(t, "nav-netwatch")
		order := func() string {
			t.Helper()
			rows, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("#devices tbody tr"), chromedp.AtLeast(0)))
			if err != nil {
				t.Fatal(err)
			}
			var macs []string
			for _, r := range rows {
				macs = append(macs, r.AttributeValue("data-mac"))
			}
			return strings.Join(macs, " ")
		}
		if got, want := order(), "00:50:56:00:00:10 02:00:00:00:00:66 00:1b:21:00:00:09"; got != want {
			t.Errorf("devices %s, want %s (newest first)", got, want)
		}
		// The stranger's row stands out from a known device's.
		stranger := computedStyle(t, ctx, `tr[data-mac="02:00:00:00:00:66"] td`)
		known := computedStyle(t, ctx, `tr[data-mac="00:50:56:00:00:10"] td`)
		if stranger["background-color"] == known["background-color"] || stranger["font-weight"] != "600" {
			t.Errorf("unauthorized new row: background %s (known %s), weight %s", stranger["background-color"], known["background-color"], stranger["font-weight"])
		}
		submit(t, "sort-last-seen")
		if got, want := order(), "00:1b:21:00:00:09 00:50:56:00:00:10 02:00:00:00:00:66"; got != want {
			t.Errorf("after sorting: %s, want %s (oldest first)", got, want)
		}
		evs, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("#events tbody tr"), chromedp.AtLeast(0)))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].AttributeValue("data-kind") != "unauthorized device" {
			t.Errorf("%d event rows, the first %q", len(evs), evs[0].AttributeValue("data-kind"))
		}
		shot(t, "netwatch")
	})

	// Nothing left loopback: no CDN, fonts or scripts from elsewhere.
	mu.Lock()
	defer mu.Unlock()
	if len(requests) < 10 {
		t.Errorf("only %d requests seen; the network listener is not working", len(requests))
	}
	sawCSS := false
	for _, r := range requests {
		u, err := url.Parse(r)
		if err != nil {
			t.Errorf("request to %q: %v", r, err)
			continue
		}
		if u.Scheme == "data" {
			continue
		}
		if u.Host != strings.TrimPrefix(ts.URL, "http://") {
			t.Errorf("the page requested %s, off the appliance", r)
		}
		if u.Path == "/static/style.css" {
			sawCSS = true
		}
	}
	if !sawCSS {
		t.Error("the stylesheet was never requested")
	}
}

func ptrTo[T any](v T) *T { return &v }
