package importer

import "syscall"

// cpuTime is the process's user+system CPU time in nanoseconds. The
// benchmarks report it beside wall time: on a shared machine wall time
// measures the neighbours as much as the code.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// peakRSS is the process's peak resident set so far, in MiB (Linux
// reports KiB). A benchmark reports it after its imports: an upper bound
// on theirs, as it counts whatever the process did before.
func peakRSS() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}
