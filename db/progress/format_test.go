package progress

import (
	"testing"
	"time"
)

func TestHumanFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Digits(0), "0"}, {Digits(999), "999"}, {Digits(1000), "1,000"}, {Digits(12345678), "12,345,678"},
		{Bytes(512), "512 B"}, {Bytes(1536), "1.5 KiB"}, {Bytes(18 << 30), "18.0 GiB"},
		{Clock(65 * time.Second), "1:05"}, {Clock(3725 * time.Second), "1:02:05"},
		{Count(1_500_000), "1.50 M"}, {Count(2500), "2.5 k"}, {Count(12), "12"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
