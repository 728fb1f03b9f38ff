package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/http"
	"testing"

	"github.com/matchmeta/matchmeta/db/dbtest"
)

// BenchmarkBulkNDJSON posts 1 M SHA-256 values (half known when the set
// holds at least 1 M keys) as NDJSON in one request over loopback and reads
// the verdicts back:
//
//	go test ./web -run XXX -bench BulkNDJSON -benchtime 3x
//	MATCHMETA_BENCH_KEYS=10000000 go test ./web -run XXX -bench BulkNDJSON -benchtime 3x -timeout 30m
func BenchmarkBulkNDJSON(b *testing.B) {
	st, n := dbtest.BenchStore(b)
	s, err := New(Config{Store: st, Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	const values = 1_000_000
	var body bytes.Buffer
	var buf [8]byte
	// Even values name key i, in the set while i < n; odd ones name n+i,
	// never in it. A smaller MATCHMETA_BENCH_KEYS set therefore knows
	// fewer of them, and the expected count follows n.
	known := 0
	for i := 0; i < values; i++ {
		k := uint64(i)
		if i%2 == 1 {
			k = uint64(n + i) // not in the set
		} else if i < n {
			known++
		}
		binary.BigEndian.PutUint64(buf[:], k)
		h := sha256.Sum256(buf[:])
		body.WriteByte('"')
		body.WriteString(hex.EncodeToString(h[:]))
		body.WriteString("\"\n")
	}
	url := "http://" + s.Addr().String() + "/api/v1/lookup?detail=verdict"
	b.SetBytes(int64(body.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := http.Post(url, "application/x-ndjson", bytes.NewReader(body.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("%v %d", err, res.StatusCode)
		}
		if lines := bytes.Count(got, []byte("\n")); lines != values {
			b.Fatalf("%d answers, want %d", lines, values)
		}
		if ok := bytes.Count(got, []byte(`"OK"`)); ok != known {
			b.Fatalf("%d OK, want %d", ok, known)
		}
	}
	b.ReportMetric(float64(values)*float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

// BenchmarkSingleGET is the per-request cost of GET /sha256/{h} through
// the whole server, from one client goroutine per core (the wrk load with
// 64 connections is the other helper's benchmark).
func BenchmarkSingleGET(b *testing.B) {
	st, _ := dbtest.BenchStore(b)
	s, err := New(Config{Store: st, Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	base := "http://" + s.Addr().String() + "/sha256/"
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	c := &http.Client{Transport: tr}
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var buf [8]byte
		i := 0
		for pb.Next() {
			binary.BigEndian.PutUint64(buf[:], uint64(i))
			h := sha256.Sum256(buf[:])
			i++
			res, err := c.Get(base + hex.EncodeToString(h[:]))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkHandlerGET is the server's own cost of GET /sha256/{h} (routing,
// middleware, lookup, answer) without the network.
func BenchmarkHandlerGET(b *testing.B) {
	st := fixtureStore(b)
	s, err := New(Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	req, _ := http.NewRequest("GET", "/sha256/"+knownSHA256, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &recorder{h: http.Header{}}
		for pb.Next() {
			w.body.Reset()
			w.code = 0
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}
