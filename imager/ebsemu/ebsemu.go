package ebsemu

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultBlockSize is the block size EBS snapshots use (512 KiB).
const DefaultBlockSize = 524288

// Volume is one snapshot the emulator serves. Only the listed indices are
// returned by ListSnapshotBlocks; every other block reads as zeros, as on
// EBS.
type Volume struct {
	ID        string
	SizeGiB   int64
	BlockSize int32
	// Parent names the snapshot this one was taken after; ListChangedBlocks
	// refuses unrelated pairs as EBS does (UNRELATED_SNAPSHOTS).
	Parent string

	indices []int32
	read    func(idx int32, p []byte)
	// listed marks the indices; sums are computed on first use (a
	// volume that is only listed costs no hashing).
	listed map[int32]bool
	mu     sync.Mutex
	sums   map[int32][32]byte
}

func (v *Volume) has(idx int32) bool { return v.listed[idx] }

// sum is the SHA-256 of a listed block.
func (v *Volume) sum(idx int32) [32]byte {
	v.mu.Lock()
	s, ok := v.sums[idx]
	v.mu.Unlock()
	if ok {
		return s
	}
	buf := make([]byte, v.BlockSize)
	v.read(idx, buf)
	s = sha256.Sum256(buf)
	v.mu.Lock()
	v.sums[idx] = s
	v.mu.Unlock()
	return s
}

// MemVolume is a volume whose written blocks are given in full. A block
// may be all zeros: EBS lists such blocks too.
func MemVolume(id string, sizeGiB int64, blocks map[int32][]byte) *Volume {
	v := &Volume{ID: id, SizeGiB: sizeGiB, BlockSize: DefaultBlockSize}
	data := make(map[int32][]byte, len(blocks))
	for i, b := range blocks {
		if len(b) != DefaultBlockSize {
			panic(fmt.Sprintf("ebsemu: block %d is %d bytes, want %d", i, len(b), DefaultBlockSize))
		}
		v.indices = append(v.indices, i)
		data[i] = b
	}
	v.read = func(idx int32, p []byte) { copy(p, data[idx]) }
	v.finish()
	return v
}

// PatternVolume is a large volume generated on the fly: block i is one of
// a few random patterns with its index stamped in the first 8 bytes, so
// every block differs and serving costs a memory copy. Seed fixes the
// content.
func PatternVolume(id string, sizeGiB int64, indices []int32, seed uint64) *Volume {
	v := &Volume{ID: id, SizeGiB: sizeGiB, BlockSize: DefaultBlockSize}
	v.indices = slices.Clone(indices)
	const patterns = 8
	pool := make([][]byte, patterns)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range pool {
		pool[i] = make([]byte, DefaultBlockSize)
		for j := 0; j < len(pool[i]); j += 8 {
			binary.LittleEndian.PutUint64(pool[i][j:], rng.Uint64())
		}
	}
	v.read = func(idx int32, p []byte) {
		copy(p, pool[int(idx)%patterns])
		binary.LittleEndian.PutUint64(p, uint64(idx)^seed)
	}
	v.finish()
	return v
}

func (v *Volume) finish() {
	slices.Sort(v.indices)
	v.indices = slices.Compact(v.indices)
	nblocks := v.SizeGiB << 30 / int64(v.BlockSize)
	v.sums = make(map[int32][32]byte, len(v.indices))
	v.listed = make(map[int32]bool, len(v.indices))
	for _, i := range v.indices {
		if int64(i) >= nblocks || i < 0 {
			panic(fmt.Sprintf("ebsemu: block %d outside a %d GiB volume", i, v.SizeGiB))
		}
		v.listed[i] = true
	}
}

// Indices returns the listed block indices in order.
func (v *Volume) Indices() []int32 { return slices.Clone(v.indices) }

// Block returns a copy of block idx (zeros when unlisted).
func (v *Volume) Block(idx int32) []byte {
	p := make([]byte, v.BlockSize)
	if v.has(idx) {
		v.read(idx, p)
	}
	return p
}

// Bytes is the volume size in bytes.
func (v *Volume) Bytes() int64 { return v.SizeGiB << 30 }

// WriteTo writes the whole volume, zeros included, as a raw image would
// hold it.
func (v *Volume) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, v.BlockSize)
	zero := make([]byte, v.BlockSize)
	n := v.Bytes() / int64(v.BlockSize)
	var total int64
	for i := int64(0); i < n; i++ {
		p := zero
		if v.has(int32(i)) {
			v.read(int32(i), buf)
			p = buf
		}
		k, err := w.Write(p)
		total += int64(k)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Digest hashes the whole volume with h (sha256.New() for the image hash).
func (v *Volume) Digest(h hash.Hash) []byte {
	v.WriteTo(h)
	return h.Sum(nil)
}

// Fault is what the emulator does to one request instead of (or while)
// answering it.
type Fault int

const (
	None        Fault = iota
	Throttle          // HTTP 400 RequestThrottledException
	BadChecksum       // right data, wrong x-amz-Checksum
	BadLength         // x-amz-Data-Length disagrees with the body
	Truncate          // Content-Length promises a block, half is sent, then the connection closes
	Drop              // connection closed before any response
	Stall             // headers never come (until the client gives up)
	StallBody         // headers and half the body, then nothing
	ExpireToken       // ValidationException INVALID_BLOCK_TOKEN as for an expired token
	ServerError       // HTTP 500 InternalServerException
)

func (f Fault) String() string {
	return [...]string{"none", "throttle", "bad-checksum", "bad-length", "truncate", "drop", "stall",
		"stall-body", "expire-token", "server-error"}[f]
}

// Request describes one request for the Fault hook.
type Request struct {
	Op       string // "ListSnapshotBlocks", "ListChangedBlocks", "GetSnapshotBlock"
	Snapshot string
	Index    int32 // GetSnapshotBlock only
	Attempt  int   // 1 for the first request of this block (or list call), 2 for the next, ...
}

// Options configure a Server. Every field is optional.
type Options struct {
	// Fault, when set, is asked about every request.
	Fault func(Request) Fault
	// GetRate is the GetSnapshotBlock quota per snapshot per second (EBS:
	// 1,000); beyond it requests are throttled. 0 means no quota.
	GetRate float64
	// Latency delays every GetSnapshotBlock answer, as the service's own
	// per-request latency does (0: answer at once).
	Latency time.Duration
	// TokenTTL is how long block tokens stay valid (default 7 days).
	TokenTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Stats counts what the emulator served.
type Stats struct {
	Lists, Gets, Throttled, Faults, BytesServed atomic.Int64
}

// Server is a local EBS direct API endpoint.
type Server struct {
	*httptest.Server
	Stats Stats

	opts Options
	mu   sync.Mutex
	vols map[string]*Volume
	// tokens carry a generation; ExpireTokens bumps it so every token
	// handed out before is refused, as after ExpiryTime on EBS.
	gen      atomic.Int64
	attempts map[string]int
	bucket   map[string]*bucket
	bufs     sync.Pool
}

// New starts a Server on loopback serving vols.
func New(opts Options, vols ...*Volume) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = 7 * 24 * time.Hour
	}
	s := &Server{opts: opts, vols: map[string]*Volume{}, attempts: map[string]int{}, bucket: map[string]*bucket{}}
	for _, v := range vols {
		s.vols[v.ID] = v
	}
	s.bufs.New = func() any { b := make([]byte, DefaultBlockSize); return &b }
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Add serves one more volume.
func (s *Server) Add(v *Volume) {
	s.mu.Lock()
	s.vols[v.ID] = v
	s.mu.Unlock()
}

// ExpireTokens invalidates every block and page token handed out so far.
func (s *Server) ExpireTokens() { s.gen.Add(1) }

func (s *Server) volume(id string) *Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vols[id]
}

func (s *Server) attempt(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts[key]++
	return s.attempts[key]
}

type apiError struct {
	status int
	code   string
	msg    string
	reason string
}

func writeError(w http.ResponseWriter, e apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	body := map[string]string{"__type": e.code, "Message": e.msg}
	if e.reason != "" {
		body["Reason"] = e.reason
	}
	json.NewEncoder(w).Encode(body)
}

func validation(reason, msg string) apiError {
	return apiError{http.StatusBadRequest, "ValidationException", msg, reason}
}

var (
	errThrottled = apiError{http.StatusBadRequest, "RequestThrottledException", "Rate exceeded", "RESOURCE_LEVEL_THROTTLE"}
	errInternal  = apiError{http.StatusInternalServerError, "InternalServerException", "internal error", ""}
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	// The SDK signs with SigV4 for service "ebs"; refuse anything else so
	// a test catches a client that is not the real one or not signing.
	if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 ") || !strings.Contains(a, "/ebs/aws4_request") {
		writeError(w, apiError{http.StatusForbidden, "AccessDeniedException", "missing or wrong SigV4 signature", "UNAUTHORIZED_ACCOUNT"})
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, validation("INVALID_PARAMETER_VALUE", "only GET operations are emulated"))
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) < 3 || parts[0] != "snapshots" {
		writeError(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "no such path " + r.URL.Path, ""})
		return
	}
	v := s.volume(parts[1])
	if v == nil {
		writeError(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "snapshot " + parts[1] + " does not exist", "SNAPSHOT_NOT_FOUND"})
		return
	}
	switch {
	case len(parts) == 3 && parts[2] == "blocks":
		s.list(w, r, v, nil)
	case len(parts) == 3 && parts[2] == "changedblocks":
		first := s.volume(r.URL.Query().Get("firstSnapshotId"))
		if first == nil {
			writeError(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "first snapshot does not exist", "SNAPSHOT_NOT_FOUND"})
			return
		}
		if v.Parent != first.ID || first.BlockSize != v.BlockSize {
			writeError(w, validation("UNRELATED_SNAPSHOTS", "the snapshots are not related"))
			return
		}
		s.list(w, r, v, first)
	case len(parts) == 4 && parts[2] == "blocks":
		s.get(w, r, v, parts[3])
	default:
		writeError(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "no such path " + r.URL.Path, ""})
	}
}

func (s *Server) fault(req Request) Fault {
	if s.opts.Fault == nil {
		return None
	}
	f := s.opts.Fault(req)
	if f != None {
		s.Stats.Faults.Add(1)
	}
	return f
}

func (s *Server) token(snap string, idx int32) string {
	return fmt.Sprintf("tok.%s.%d.%d", snap, idx, s.gen.Load())
}

func (s *Server) tokenOK(tok, snap string, idx int32) bool {
	return tok == s.token(snap, idx)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, v *Volume, first *Volume) {
	s.Stats.Lists.Add(1)
	q := r.URL.Query()
	op := "ListSnapshotBlocks"
	if first != nil {
		op = "ListChangedBlocks"
	}
	key := op + "/" + v.ID + "?" + r.URL.RawQuery
	switch f := s.fault(Request{Op: op, Snapshot: v.ID, Index: -1, Attempt: s.attempt(key)}); f {
	case Throttle, ServerError, Drop:
		s.failFast(w, f)
		return
	case Stall, StallBody:
		<-r.Context().Done()
		return
	}
	max := 10000
	if m := q.Get("maxResults"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 100 || n > 10000 {
			writeError(w, validation("INVALID_PARAMETER_VALUE", "maxResults must be between 100 and 10000"))
			return
		}
		max = n
	}
	start := int32(0)
	if t := q.Get("pageToken"); t != "" {
		var gen int64
		var idx int32
		if _, err := fmt.Sscanf(t, "page.%d.%d", &gen, &idx); err != nil || gen != s.gen.Load() {
			writeError(w, validation("INVALID_PAGE_TOKEN", "the page token is not valid"))
			return
		}
		start = idx
	} else if sb := q.Get("startingBlockIndex"); sb != "" {
		n, err := strconv.ParseInt(sb, 10, 32)
		if err != nil || n < 0 {
			writeError(w, validation("INVALID_PARAMETER_VALUE", "startingBlockIndex is not valid"))
			return
		}
		start = int32(n)
	}
	// Changed blocks: indices in either snapshot whose content differs.
	var indices []int32
	if first == nil {
		indices = v.indices
	} else {
		all := append(slices.Clone(first.indices), v.indices...)
		slices.Sort(all)
		for _, i := range slices.Compact(all) {
			inA, inB := first.has(i), v.has(i)
			if inA != inB || inA && first.sum(i) != v.sum(i) {
				indices = append(indices, i)
			}
		}
	}
	from, _ := slices.BinarySearch(indices, start)
	to := min(from+max, len(indices))
	expiry := s.opts.Now().Add(s.opts.TokenTTL)
	out := map[string]any{
		"BlockSize":  v.BlockSize,
		"VolumeSize": v.SizeGiB,
		// EBS sends epoch seconds with a fraction.
		"ExpiryTime": json.Number(strconv.FormatFloat(float64(expiry.UnixMilli())/1000, 'f', 3, 64)),
	}
	if to < len(indices) {
		out["NextToken"] = fmt.Sprintf("page.%d.%d", s.gen.Load(), indices[to])
	}
	if first == nil {
		blocks := make([]map[string]any, 0, to-from)
		for _, i := range indices[from:to] {
			blocks = append(blocks, map[string]any{"BlockIndex": i, "BlockToken": s.token(v.ID, i)})
		}
		out["Blocks"] = blocks
	} else {
		blocks := make([]map[string]any, 0, to-from)
		for _, i := range indices[from:to] {
			b := map[string]any{"BlockIndex": i}
			if first.has(i) {
				b["FirstBlockToken"] = s.token(first.ID, i)
			}
			if v.has(i) {
				b["SecondBlockToken"] = s.token(v.ID, i)
			}
			blocks = append(blocks, b)
		}
		out["ChangedBlocks"] = blocks
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, v *Volume, idxText string) {
	s.Stats.Gets.Add(1)
	n, err := strconv.ParseInt(idxText, 10, 32)
	if err != nil || n < 0 {
		writeError(w, validation("INVALID_BLOCK", "block index is not valid"))
		return
	}
	idx := int32(n)
	if s.opts.GetRate > 0 && !s.allow(v.ID) {
		s.Stats.Throttled.Add(1)
		writeError(w, errThrottled)
		return
	}
	f := s.fault(Request{Op: "GetSnapshotBlock", Snapshot: v.ID, Index: idx, Attempt: s.attempt(fmt.Sprintf("get/%s/%d", v.ID, idx))})
	switch f {
	case Throttle, ServerError, Drop:
		s.failFast(w, f)
		return
	case Stall:
		<-r.Context().Done()
		return
	}
	ok := v.has(idx)
	if f == ExpireToken || !ok || !s.tokenOK(r.URL.Query().Get("blockToken"), v.ID, idx) {
		writeError(w, validation("INVALID_BLOCK_TOKEN", "the block token is not valid"))
		return
	}
	if s.opts.Latency > 0 {
		t := time.NewTimer(s.opts.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := (*bp)[:v.BlockSize]
	v.read(idx, buf)
	sum := v.sum(idx)
	if f == BadChecksum {
		sum[0] ^= 0xff
	}
	length := len(buf)
	if f == BadLength {
		length--
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("x-amz-Checksum", base64.StdEncoding.EncodeToString(sum[:]))
	h.Set("x-amz-Checksum-Algorithm", "SHA256")
	h.Set("x-amz-Data-Length", strconv.Itoa(length))
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(http.StatusOK)
	switch f {
	case Truncate:
		w.Write(buf[:len(buf)/2])
		w.(http.Flusher).Flush()
		hijackClose(w)
		return
	case StallBody:
		w.Write(buf[:len(buf)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	k, _ := w.Write(buf)
	s.Stats.BytesServed.Add(int64(k))
}

// failFast answers a request with a throttle, a server error or a dropped
// connection.
func (s *Server) failFast(w http.ResponseWriter, f Fault) {
	switch f {
	case Throttle:
		s.Stats.Throttled.Add(1)
		writeError(w, errThrottled)
	case ServerError:
		writeError(w, errInternal)
	case Drop:
		hijackClose(w)
	}
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
		}
	}
}

// bucket is a token bucket holding at most one second of quota.
type bucket struct {
	tokens float64
	last   time.Time
}

func (s *Server) allow(snap string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	b := s.bucket[snap]
	if b == nil {
		b = &bucket{tokens: s.opts.GetRate, last: now}
		s.bucket[snap] = b
	}
	b.tokens = min(s.opts.GetRate, b.tokens+now.Sub(b.last).Seconds()*s.opts.GetRate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
