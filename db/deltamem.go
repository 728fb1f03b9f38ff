package db

import (
	"bytes"
	"encoding/binary"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// A published delta layer never changes (a new delta writes a new layer
// under a fresh ID), so lookups read it from memory: its keys packed and
// sorted, indexed by their first 16 bits, which leaves a key or two to
// compare per lookup instead of a bbolt Get through the layer's pages.
// The layer is at most a few percent of its base (sync merges it past
// 5%), so this stays small.
type deltaMem struct {
	width  int
	tooBig bool   // not held: read the layer through bbolt
	keys   []byte // sorted, width bytes each
	add    []bool
	start  [1<<16 + 1]uint32
}

// maxLayerMem bounds the layer entries held in memory (about 150 MB of
// SHA-256 keys); a larger layer is read through bbolt.
const maxLayerMem = 4 << 20

// layerCache holds the layers read so far, by data ID.
type layerCache struct {
	mu sync.Mutex
	m  map[uint32]*deltaMem
}

// layer returns the in-memory form of a layer, reading it from tx once.
func (c *layerCache) layer(tx *bolt.Tx, id uint32, width int) *deltaMem {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.m[id]; d != nil {
		return d
	}
	b := indexBucket(tx, id, idxDeltaB)
	if b == nil {
		return nil
	}
	d := &deltaMem{width: width}
	n := b.Stats().KeyN
	if n > maxLayerMem {
		d.tooBig = true // lookups Get from bbolt until the layer is merged
		c.put(id, d)
		return d
	}
	d.keys = make([]byte, 0, n*width)
	d.add = make([]bool, 0, n)
	if err := b.ForEach(func(k, v []byte) error {
		if checkDeltaEntry(k, v, width) != nil {
			return errBadRecord
		}
		d.keys = append(d.keys, k...)
		d.add = append(d.add, v[0] == deltaAdd)
		return nil
	}); err != nil {
		return nil // a damaged layer is read from bbolt (and Check reports it)
	}
	cnt := len(d.add)
	p := 0
	for i := 0; i < cnt; i++ {
		pre := int(binary.BigEndian.Uint16(d.keys[i*width:]))
		for p <= pre {
			d.start[p] = uint32(i)
			p++
		}
	}
	for ; p <= 1<<16; p++ {
		d.start[p] = uint32(cnt)
	}
	c.put(id, d)
	return d
}

func (c *layerCache) put(id uint32, d *deltaMem) {
	if c.m == nil || len(c.m) >= 8 {
		c.m = map[uint32]*deltaMem{} // layers of replaced sets go
	}
	c.m[id] = d
}

// find reports whether key is in the layer and, if so, whether it is added.
func (d *deltaMem) find(key []byte) (found, add bool) {
	pre := binary.BigEndian.Uint16(key)
	lo, hi := int(d.start[pre]), int(d.start[int(pre)+1])
	w := d.width
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := bytes.Compare(d.keys[m*w:m*w+w], key); {
		case c == 0:
			return true, d.add[m]
		case c < 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return false, false
}
