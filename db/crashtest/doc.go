// Package crashtest is the kill harness for matchmeta's mutating
// operations: each one runs in a child process (the test binary itself,
// re-executed) that is SIGKILLed at seeded random points of its run, and
// after every kill the harness checks what an investigator relies on:
//
//   - the database opens, passes bbolt's page check and the store's Check;
//   - it holds exactly the state of the last completed operation (the
//     previous one, or this one if the kill came after its commit),
//     compared by a content digest of every set, not by counts;
//   - no partial set: every catalog entry is ready and no set data exists
//     outside the catalog;
//   - after that open no temporary files are left in the data directory;
//   - the same operation then completes and gives the state of a clean run.
//
// The seed is printed (and MATCHMETA_CRASH_SEED replays it). Per-kill cost
// is kept small with small inputs, not by killing less: every operation
// takes at least 30 kills that land inside its run.
package crashtest
