// Package progress owns the one shape of progress that every long-running
// engine reports (imports, block ingests and scans, bundle applies, EBS
// acquisitions, network sweeps) and that every view renders: the terminal
// status line, plain log lines, the admin socket stream and the status page.
//
// An engine holds a *Tracker and updates it with cheap atomic adds on its
// hot path; it never formats or writes. Whoever runs the engine (the
// service layer's job runner) takes Snapshots on its own ticker and turns
// them into Events. No view ever parses log text to learn a count.
//
// It sits under db so that every engine can import it without importing
// another engine.
package progress
