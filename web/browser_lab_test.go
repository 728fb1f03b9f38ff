package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/matchmeta/matchmeta/db"
)

// What a lab user hit with hostile data (issue 10): names that lie, the
// headline of a known-bad hash, bulk warnings, row numbers and class
// counts, and the phone layout. Every case runs at 1280 and 390 px, with a
// screenshot of each, and checks the layout facts in the browser.

var rloSHA256 = hexU(sha256Of("rlo-named"))

// labStore is the fixture plus an NSRL record whose file name carries a
// right-to-left override and a control byte, and a Windows gold build.
func labStore(t *testing.T) *db.Store {
	t.Helper()
	st := fixtureStore(t)
	ctx := context.Background()
	imp, err := st.BeginImport(ctx, []db.SetSpec{{Name: "nsrl-odd", Kind: db.KindSHA256, Class: db.ClassKnown, Provenance: db.Provenance{Source: "NSRL", Version: "2024.03.1"}}}, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	addRecord(t, imp.Builders()[0], sha256Of("rlo-named"), "\u202Etxt.exe\x01", 4096)
	if _, err := imp.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	addPathSet(t, st, "win2016", "WIN2K16", []string{`C:\Windows`, `C:\Windows\System32`, `C:\Windows\System32\svchost.exe`,
		`C:\Windows\System32\lsass.exe`, `C:\Windows\System32\drivers\etc\hosts`})
	return st
}

// layout is what the page measures of itself (Runtime.evaluate runs
// outside the page's CSP; the page itself has no script).
type layout struct {
	ScrollWidth  int  `json:"scrollWidth"`
	ClientWidth  int  `json:"clientWidth"`
	InnerScroll  int  `json:"innerScroll"`  // elements whose content scrolls sideways
	PillsCut     int  `json:"pillsCut"`     // class pills clipped or off screen
	Pills        int  `json:"pills"`        // class pills seen
	LookFirst    bool `json:"lookFirst"`    // #lookalikes above #normalized
	HasLookalike bool `json:"hasLookalike"` // #lookalikes present
}

const measureJS = `(() => {
  const de = document.documentElement, vw = window.innerWidth;
  let inner = 0, cut = 0, pills = 0;
  for (const el of document.querySelectorAll('main *')) {
    const cs = getComputedStyle(el);
    if ((cs.overflowX === 'auto' || cs.overflowX === 'scroll') && el.scrollWidth > el.clientWidth + 1) inner++;
  }
  for (const p of document.querySelectorAll('.pill')) {
    pills++;
    const r = p.getBoundingClientRect();
    let clipped = r.left < 0 || r.right > vw + 0.5 || p.scrollWidth > p.clientWidth + 1 || r.height > 2.2 * parseFloat(getComputedStyle(p).fontSize);
    for (let a = p.parentElement; a && a !== document.body; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.overflowX !== 'visible') {
        const ar = a.getBoundingClientRect();
        if (r.left < ar.left - 0.5 || r.right > ar.right + 0.5) clipped = true;
      }
    }
    if (clipped) cut++;
  }
  const lk = document.getElementById('lookalikes'), nm = document.getElementById('normalized');
  return {scrollWidth: de.scrollWidth, clientWidth: de.clientWidth, innerScroll: inner, pillsCut: cut, pills: pills,
    hasLookalike: !!lk, lookFirst: !!lk && !!nm && lk.getBoundingClientRect().top < nm.getBoundingClientRect().top};
})()`

func TestBrowserLabUser(t *testing.T) {
	execPath := chromiumPath(t)
	ts := startServer(t, labStore(t), nil)
	shots := screenshotDir(t)
	bctx := newBrowser(t, execPath)
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	measure := func(t *testing.T) layout {
		t.Helper()
		l, err := chromedp.Run(ctx, chromedp.Evaluate[layout](measureJS))
		if err != nil {
			t.Fatalf("measure: %v", err)
		}
		return l
	}
	text := func(t *testing.T, sel string) string {
		t.Helper()
		// A missing element fails at once instead of waiting for it.
		n, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0)))
		if err == nil && len(n) == 0 {
			t.Errorf("no %s on the page", sel)
			return ""
		}
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	shot := func(t *testing.T, name string) { t.Helper(); screenshot(t, ctx, shots, name) }

	for _, width := range []int{1280, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), 900)); err != nil {
				t.Fatal(err)
			}
			defer chromedp.Do(ctx, chromedp.ResetViewport())
			check := func(t *testing.T, name string) layout {
				t.Helper()
				l := measure(t)
				if l.ScrollWidth > l.ClientWidth {
					t.Errorf("%s at %d px: the page is %d px wide: it scrolls sideways", name, width, l.ScrollWidth)
				}
				if width == 390 && l.InnerScroll > 0 {
					t.Errorf("%s at %d px: %d boxes scroll sideways", name, width, l.InnerScroll)
				}
				if l.PillsCut > 0 {
					t.Errorf("%s at %d px: %d of %d class pills are cut", name, width, l.PillsCut, l.Pills)
				}
				shot(t, fmt.Sprintf("lab-%s-%d", name, width))
				return l
			}
			nav := func(t *testing.T, path string) {
				t.Helper()
				if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+path)); err != nil {
					t.Fatal(err)
				}
			}

			// 4: the headline of a known-bad hash never reads as reassurance.
			t.Run("known-bad-headline", func(t *testing.T) {
				nav(t, "/?q="+bothSHA256)
				if w := text(t, "#verdict .word"); w != "KNOWN BAD" {
					t.Errorf("headline %q, want KNOWN BAD", w)
				}
				if w := text(t, "#verdict-plain"); w != "OK" {
					t.Errorf("plain verdict %q, want OK beside the headline", w)
				}
				if l := check(t, "known-bad"); l.Pills == 0 {
					t.Error("no class pill on the page")
				}
			})
			t.Run("notable-headline", func(t *testing.T) {
				nav(t, "/?q="+notableMD5)
				if w := text(t, "#verdict .word"); w != "NOTABLE" {
					t.Errorf("headline %q, want NOTABLE", w)
				}
				check(t, "notable")
			})

			// 1: an RLO name in a record is shown with the override visible.
			t.Run("rlo-record", func(t *testing.T) {
				nav(t, "/?q="+rloSHA256)
				rec := text(t, "#records")
				if !strings.Contains(rec, "<U+202E>txt.exe<U+0001>") || strings.Contains(rec, "\u202E") {
					t.Errorf("#records shows %q, want the override made visible", rec)
				}
				if !strings.Contains(rec, "hidden characters U+202E, U+0001") {
					t.Errorf("#records %q does not flag the name", rec)
				}
				check(t, "rlo-record")
			})

			// 1, 2: a queried name with an override is flagged, and a look-alike.
			t.Run("rlo-query", func(t *testing.T) {
				nav(t, "/?q="+url.QueryEscape("C:\\Windows\\System32\\\u202Eexe.tsohcvs"))
				if q := text(t, "#query"); q != `C:\Windows\System32\<U+202E>exe.tsohcvs` {
					t.Errorf("#query %q", q)
				}
				if s := text(t, "#suspicious"); !strings.Contains(s, "U+202E") || !strings.Contains(s, "shown as 'svchost.exe'") {
					t.Errorf("#suspicious %q", s)
				}
				l := check(t, "rlo-query")
				if !l.HasLookalike || !l.LookFirst {
					t.Errorf("look-alike box present %v, above the path forms %v", l.HasLookalike, l.LookFirst)
				}
			})

			// 2, 18: a trailing-dot path is a look-alike, shown above the path forms.
			t.Run("trailing-dot-path", func(t *testing.T) {
				nav(t, "/?q="+url.QueryEscape(`C:\Windows\System32\svchost.exe.`))
				if v := text(t, "#verdict-plain"); v != "NA" {
					t.Errorf("verdict %q, want NA", v)
				}
				if lk := text(t, "#lookalikes"); !strings.Contains(lk, `C:\Windows\System32\svchost.exe`) || !strings.Contains(lk, "trailing dot") {
					t.Errorf("#lookalikes %q", lk)
				}
				l := check(t, "trailing-dot")
				if !l.LookFirst {
					t.Error("the look-alike box is below the path-forms table")
				}
			})

			// 3, 19: bulk rows carry the warnings, the input line numbers
			// and the class counts.
			t.Run("bulk", func(t *testing.T) {
				nav(t, "/bulk")
				lines := []string{
					"# screening list",                  // line 1
					knownSHA256,                         // 2
					"",                                  // 3
					`C:\Windows\System32\scvhost.exe`,   // 4
					badSHA256,                           // 5
					notableMD5,                          // 6
					"svchost.exe::$DATA",                // 7
					rloSHA256,                           // 8
					`C:\Windows\System32\svchost.exe  `, // 9: trailing spaces
				}
				if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("bulk"), strings.Join(lines, "\n"))); err != nil {
					t.Fatal(err)
				}
				if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.ID("bulk-submit")))); err != nil {
					t.Fatal(err)
				}
				want := []struct {
					line, verdict, detail string
				}{
					{"2", "OK", "notepad"},
					{"4", "NA", "transposition of 'vc'"},
					{"5", "OK", ""},
					{"6", "OK", ""},
					{"7", "NA", "main data stream"},
					{"8", "OK", "<U+202E>txt.exe<U+0001>"},
					{"9", "NA", "trailing spaces"},
				}
				rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]map[string]string](`[...document.querySelectorAll('#bulk-results tbody tr')].map(r => ({line: r.cells[0].textContent.trim(), verdict: r.cells[1].textContent.trim(), detail: r.cells[5].textContent}))`))
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) != len(want) {
					t.Fatalf("%d rows, want %d: %v", len(rows), len(want), rows)
				}
				for i, w := range want {
					r := rows[i]
					if r["line"] != w.line || !strings.HasPrefix(r["verdict"], w.verdict) || !strings.Contains(r["detail"], w.detail) {
						t.Errorf("row %d: %v, want line %s %s with %q", i, r, w.line, w.verdict, w.detail)
					}
				}
				sum := text(t, "#bulk-summary")
				for _, s := range []string{"4 OK", "1 known-bad", "1 notable", "2 known", "3 NA", "4 with warnings"} {
					if !strings.Contains(sum, s) {
						t.Errorf("summary %q lacks %q", sum, s)
					}
				}
				check(t, "bulk")
			})
		})
	}
}

// TestBulkCSVWarnings: the CSV of the bulk page carries the same warnings
// and line numbers, and names with hidden characters made visible.
func TestBulkCSVWarnings(t *testing.T) {
	ts := startServer(t, labStore(t), nil)
	form := url.Values{"values": {"# list\n" + `C:\Windows\System32\scvhost.exe` + "\n\n" + rloSHA256 + "\nsvchost.exe \n" + strings.Repeat("a", 5000)}, "format": {"csv"}}
	r := do(t, "POST", ts.URL+"/bulk", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if r.status != 200 {
		t.Fatalf("CSV: %d %s", r.status, r.body)
	}
	recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := strings.Join(recs[0], ",")
	if !strings.HasSuffix(head, ",error,warnings,line") {
		t.Fatalf("header %q", head)
	}
	col := func(row []string, name string) string {
		for i, h := range recs[0] {
			if h == name {
				return row[i]
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	want := []struct{ line, verdict, field, has string }{
		{"2", "NA", "warnings", "transposition of 'vc'"},
		{"4", "OK", "file_name", "<U+202E>txt.exe<U+0001>"},
		{"5", "NA", "warnings", "trailing space: Windows opens it as 'svchost.exe'"},
		{"6", "error", "error", "too long"},
	}
	if len(recs) != len(want)+1 {
		t.Fatalf("%d rows: %q", len(recs)-1, recs)
	}
	for i, w := range want {
		row := recs[i+1]
		if col(row, "line") != w.line || col(row, "verdict") != w.verdict || !strings.Contains(col(row, w.field), w.has) {
			t.Errorf("row %d: %q, want line %s %s with %s %q", i, row, w.line, w.verdict, w.field, w.has)
		}
		if strings.ContainsAny(strings.Join(row, ""), "\u202E\x01") {
			t.Errorf("row %d carries hidden characters raw: %q", i, row)
		}
	}
}

// TestBulkAPIWarnings: the API's bulk forms (a JSON list, NDJSON lines)
// carry the look-alike warnings and hidden code points a single lookup
// gives (issue 10 item 3: every answer form).
func TestBulkAPIWarnings(t *testing.T) {
	ts := startServer(t, labStore(t), nil)
	values := []string{`C:\Windows\System32\scvhost.exe`, "svchost.exe::$DATA", "C:\\Windows\\System32\\\u202Eexe.tsohcvs"}
	want := []struct{ warning, codePoint string }{{"transposition of 'vc'", ""}, {"main data stream", ""}, {"shown as 'svchost.exe'", "U+202E"}}
	js, _ := json.Marshal(values)
	var nd strings.Builder
	for _, v := range values {
		b, _ := json.Marshal(v)
		nd.Write(append(b, '\n'))
	}
	for _, tc := range []struct{ name, ct, body string }{
		{"json", "application/json", string(js)},
		{"ndjson", "application/x-ndjson", nd.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", ts.URL+"/api/v1/lookup", strings.NewReader(tc.body), "Content-Type", tc.ct)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var answers []json.RawMessage
			if tc.ct == "application/json" {
				var env struct{ Answers []json.RawMessage }
				if err := json.Unmarshal([]byte(r.body), &env); err != nil {
					t.Fatalf("%v: %s", err, r.body)
				}
				answers = env.Answers
			} else {
				for _, l := range strings.Split(strings.TrimSpace(r.body), "\n") {
					answers = append(answers, json.RawMessage(l))
				}
			}
			if len(answers) != len(want) {
				t.Fatalf("%d answers, want %d: %s", len(answers), len(want), r.body)
			}
			for i, w := range want {
				var a db.Answer
				if err := json.Unmarshal(answers[i], &a); err != nil {
					t.Fatalf("answer %d: %v: %s", i, err, answers[i])
				}
				if a.Verdict != "NA" || !strings.Contains(string(answers[i]), w.warning) {
					t.Errorf("answer %d: %s, want NA with %q", i, answers[i], w.warning)
				}
				if w.codePoint != "" && !slices.Contains(a.SuspiciousCodePoints, w.codePoint) {
					t.Errorf("answer %d: suspicious code points %v, want %s", i, a.SuspiciousCodePoints, w.codePoint)
				}
			}
		})
	}
}

// TestHashlookupHiddenName: the hashlookup answers keep a file name
// exact, as hashlookup's clients expect, and say which hidden characters
// it carries, as every other answer form does (issue 10 item 1).
func TestHashlookupHiddenName(t *testing.T) {
	ts := startServer(t, labStore(t), nil)
	single := do(t, "GET", ts.URL+"/lookup/sha256/"+rloSHA256, nil)
	bulk := do(t, "POST", ts.URL+"/bulk/sha256", strings.NewReader(`{"hashes": ["`+rloSHA256+`"]}`), "Content-Type", "application/json")
	var one map[string]any
	var many []map[string]any
	if single.status != 200 || json.Unmarshal([]byte(single.body), &one) != nil {
		t.Fatalf("lookup: %d %s", single.status, single.body)
	}
	if bulk.status != 200 || json.Unmarshal([]byte(bulk.body), &many) != nil || len(many) != 1 {
		t.Fatalf("bulk: %d %s", bulk.status, bulk.body)
	}
	for name, rec := range map[string]map[string]any{"lookup": one, "bulk": many[0]} {
		cps, _ := rec["matchmeta:filename-suspicious-code-points"].([]any)
		if rec["FileName"] != "\u202Etxt.exe\x01" || rec["matchmeta:filename-shown"] != "<U+202E>txt.exe<U+0001>" || fmt.Sprint(cps) != "[U+202E U+0001]" {
			t.Errorf("%s: FileName %q, shown %q, code points %v", name, rec["FileName"], rec["matchmeta:filename-shown"], cps)
		}
	}
	// A clean name carries no such keys.
	var clean map[string]any
	json.Unmarshal([]byte(do(t, "GET", ts.URL+"/lookup/sha256/"+knownSHA256, nil).body), &clean)
	if _, ok := clean["matchmeta:filename-shown"]; ok || clean["FileName"] == nil {
		t.Errorf("clean record: %v", clean)
	}
}
