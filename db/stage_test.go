package db

import (
	"context"
	"testing"
)

// TestAbortAfterCommit: Abort after a Commit does nothing, whether the
// sets were published or handed to a Stage (which then publishes them),
// so importers can defer it; Stage.Abort still drops what it holds.
func TestAbortAfterCommit(t *testing.T) {
	ctx := context.Background()
	key := make([]byte, 32)
	key[0] = 0x42
	for _, tc := range []struct {
		name    string
		staged  bool
		publish bool // else the stage is aborted
		want    bool // the set is there at the end
	}{
		{"published", false, false, true},
		{"staged, then published", true, true, true},
		{"staged, then the stage aborted", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openTest(t, Options{})
			var stage *Stage
			opts := ImportOptions{}
			if tc.staged {
				stage = st.NewStage()
				opts.Stage = stage
			}
			imp, err := st.BeginImport(ctx, []SetSpec{{Name: "s", Kind: KindSHA256, Class: ClassKnown}}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := imp.Builders()[0].AddKey(key); err != nil {
				t.Fatal(err)
			}
			if _, err := imp.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			imp.Abort() // what an importer's defer does
			if stage != nil {
				if tc.publish {
					if _, err := stage.Publish(ctx, nil); err != nil {
						t.Fatalf("publish after Abort: %v", err)
					}
				} else {
					stage.Abort()
				}
			}
			var got bool
			st.View(func(r *Reader) error { got = r.Verdict(KindSHA256, key); return nil })
			if got != tc.want {
				t.Errorf("key found %v, want %v", got, tc.want)
			}
		})
	}
}
