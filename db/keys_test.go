package db

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestAPIKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mm.db")
	st, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	secret, key, err := st.AddAPIKey(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, APIKeyPrefix) || len(secret) < 30 {
		t.Fatalf("secret %q: want %s prefix and >= 30 characters", secret, APIKeyPrefix)
	}
	if key.Name != "alice" || !key.Active() || !strings.HasPrefix(secret, key.Prefix) {
		t.Fatalf("key: got %+v", key)
	}
	// The secret itself is never stored.
	st.Bolt().View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketAPIKeys).Get([]byte("alice"))
		if strings.Contains(string(v), secret) || strings.Contains(string(v), secret[len(APIKeyPrefix):]) {
			t.Errorf("stored entry holds the secret: %s", v)
		}
		var k APIKey
		if err := json.Unmarshal(v, &k); err != nil || len(k.Hash) != 64 {
			t.Errorf("stored entry: %s (%v), want a 64-digit hash", v, err)
		}
		return nil
	})
	if _, _, err := st.AddAPIKey(ctx, "alice"); !errors.Is(err, ErrExists) {
		t.Fatalf("second add: got %v, want ErrExists", err)
	}
	for _, bad := range []string{"", "-x", "a b", strings.Repeat("a", 65), "é"} {
		if _, _, err := st.AddAPIKey(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("add %q: got %v, want ErrInvalid", bad, err)
		}
	}
	secret2, _, err := st.AddAPIKey(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if secret2 == secret {
		t.Fatal("two keys share a secret")
	}
	for _, tc := range []struct {
		secret string
		name   string
		ok     bool
	}{
		{secret, "alice", true},
		{" " + secret + "\n", "alice", true},
		{secret2, "bob", true},
		{secret + "x", "", false},
		{"", "", false},
		{key.Hash, "", false}, // the stored hash is not a key
	} {
		name, ok, err := st.VerifyAPIKey(tc.secret)
		if err != nil || name != tc.name || ok != tc.ok {
			t.Errorf("verify %q: got %q %v %v, want %q %v", tc.secret, name, ok, err, tc.name, tc.ok)
		}
	}
	if err := st.RevokeAPIKey(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.VerifyAPIKey(secret); ok {
		t.Fatal("revoked key still verifies")
	}
	if err := st.RevokeAPIKey(ctx, "alice"); err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Fatalf("second revoke: got %v", err)
	}
	if err := st.RevokeAPIKey(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: got %v, want ErrNotFound", err)
	}
	keys, err := st.APIKeys()
	if err != nil || len(keys) != 2 || keys[0].Name != "alice" || keys[0].Active() || !keys[1].Active() {
		t.Fatalf("list: got %+v %v", keys, err)
	}
	evs, _ := st.History(0)
	if len(evs) != 3 || evs[0].Action != "key-revoke" {
		t.Fatalf("history: got %+v, want 3 events ending in key-revoke", evs)
	}
	// A revoked name can be reused, with a new secret.
	secret3, _, err := st.AddAPIKey(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.VerifyAPIKey(secret); ok {
		t.Fatal("old secret of a reused name verifies")
	}
	st.Close()

	// Keys survive reopening; the cache belongs to the old store.
	st, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if name, ok, _ := st.VerifyAPIKey(secret3); !ok || name != "alice" {
		t.Fatalf("after reopen: got %q %v", name, ok)
	}
	if has, _ := st.HasAPIKeys(); !has {
		t.Fatal("HasAPIKeys: got false")
	}
}

// TestAPIKeyRevokeRace checks a revoke is never undone by a reload of the
// key cache that read the keys before the revoke committed.
func TestAPIKeyRevokeRace(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, Options{})
	for i := 0; i < 20; i++ {
		name := "k" + string(rune('a'+i))
		secret, _, err := st.AddAPIKey(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					st.VerifyAPIKey(secret)
				}
			}
		}()
		if err := st.RevokeAPIKey(ctx, name); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		if _, ok, _ := st.VerifyAPIKey(secret); ok {
			t.Fatalf("round %d: revoked key verifies", i)
		}
	}
}
