package netwatch

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkSweep24 sweeps a /24 bridge with 24 hosts, two tries per
// silent host at arp-scan's defaults (256 kbit/s, 500 ms, backoff 1.5),
// then runs Debian's arp-scan with the same settings over the same 253
// addresses, and reports both median times and their ratio. It fails when
// the two find different hosts or our median sweep takes over 2 s.
//
//	go test ./netwatch -run '^$' -bench Sweep24 -benchtime 5x
//
// NETWATCH_BENCH_HOSTS changes the number of hosts.
func BenchmarkSweep24(b *testing.B) {
	arpScan, err := exec.LookPath("arp-scan")
	if err != nil {
		b.Fatal("arp-scan (Debian arp-scan) is the baseline: ", err)
	}
	l := newLab(b, "198.18.0.1/24")
	n := 24
	if s := os.Getenv("NETWATCH_BENCH_HOSTS"); s != "" {
		if n, err = strconv.Atoi(s); err != nil || n < 1 || n > 250 {
			b.Fatalf("NETWATCH_BENCH_HOSTS=%q: want 1..250", s)
		}
	}
	var want []string
	for i := 0; i < n; i++ {
		ip := fmt.Sprintf("198.18.0.%d", 2+i*250/n)
		mac := fmt.Sprintf("00:50:56:00:%02x:%02x", i/256, i%256)
		l.addHost(fmt.Sprint(i), mac, ip+"/24")
		want = append(want, ip+" "+mac)
	}
	sort.Strings(want)
	vendors := testVendors(b)

	var ours, theirs []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Wall time around the whole call, socket set-up included, as
		// arp-scan's is measured around its process.
		start := time.Now()
		res, err := l.sweep(SweepConfig{Interface: labBridge, Vendors: vendors}, nil)
		if err != nil {
			b.Fatal(err)
		}
		ours = append(ours, time.Since(start))
		b.Logf("sweep %d: %v (%v sending and reading), %d sent", i, ours[len(ours)-1], res.Duration(), res.Sent)
		var got []string
		for _, d := range res.Devices {
			got = append(got, d.IP.String()+" "+d.MAC.String())
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			b.Fatalf("netwatch found %v, want %v", got, want)
		}

		var out []byte
		start = time.Now()
		l.root.do(func() {
			out, err = exec.Command(arpScan, "--interface="+labBridge, "--retry=2", "--timeout=500", "--backoff=1.5",
				"--bandwidth=256000", "--plain", "--quiet", "198.18.0.2-198.18.0.254").CombinedOutput()
		})
		theirs = append(theirs, time.Since(start))
		b.Logf("arp-scan %d: %v", i, theirs[len(theirs)-1])
		if err != nil {
			b.Fatalf("arp-scan: %v: %s", err, out)
		}
		var found []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if f := strings.Fields(line); len(f) >= 2 {
				found = append(found, f[0]+" "+f[1])
			}
		}
		sort.Strings(found)
		if strings.Join(found, ",") != strings.Join(got, ",") {
			b.Fatalf("arp-scan found %v, netwatch %v", found, got)
		}
	}
	b.StopTimer()
	// Medians: the machine is shared, and one descheduled run should not
	// decide the figure.
	mo, mt := median(ours), median(theirs)
	b.ReportMetric(mo.Seconds(), "s/sweep")
	b.ReportMetric(mt.Seconds(), "arpscan-s/sweep")
	b.ReportMetric(mo.Seconds()/mt.Seconds(), "ours/arpscan")
	if mo > 2*time.Second {
		b.Errorf("median sweep %v, target 2 s", mo)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
