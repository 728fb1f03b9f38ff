package web

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestParseWrk reads recorded wrk --latency reports (testdata/wrk).
func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		file     string
		want     wrkResult
		wantFail bool
	}{
		{"ok.txt", wrkResult{rps: 9590.56, p50: 7130 * time.Microsecond, p99: 32580 * time.Microsecond}, false},
		{"non2xx.txt", wrkResult{rps: 14415.45, p50: 165 * time.Microsecond, p99: 8750 * time.Microsecond, non2xx: 15872}, false},
		{"no-latency.txt", wrkResult{}, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "wrk", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseWrk(string(b))
			if tc.wantFail {
				if err == nil {
					t.Fatalf("no error, got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLatencyHist(t *testing.T) {
	var h latencyHist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond * 10) // 10 µs .. 10 ms
	}
	h.add(time.Second) // beyond the buckets
	if got := h.quantile(0.5); got < 4990*time.Microsecond || got > 5030*time.Microsecond {
		t.Errorf("p50 %v, want about 5 ms", got)
	}
	if got := h.quantile(0.99); got < 9890*time.Microsecond || got > 9930*time.Microsecond {
		t.Errorf("p99 %v, want about 9.9 ms", got)
	}
	if got := h.quantile(1); got != time.Second {
		t.Errorf("max %v, want 1s", got)
	}
}
