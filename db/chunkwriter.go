package db

// chunkWriter packs sorted fixed-width keys into chunks (see chunkKeys) and
// writes them through a txWriter: the element's key is the chunk's last
// key, its value the keys before it and a CRC-32C of the whole chunk.
type chunkWriter struct {
	w       putter
	idx     string
	width   int
	per     int
	buf     []byte
	lastKey []byte // the last chunk's key
}

func newChunkWriter(w putter, idx string, width int) *chunkWriter {
	per := chunkKeys(width)
	return &chunkWriter{w: w, idx: idx, width: width, per: per,
		buf: make([]byte, 0, per*width+chunkSumLen), lastKey: make([]byte, 0, width)}
}

// add appends the next key; keys must come sorted and distinct.
func (c *chunkWriter) add(key []byte) error {
	c.buf = append(c.buf, key...)
	if len(c.buf) == c.per*c.width {
		return c.flush()
	}
	return nil
}

// flush writes the keys collected so far as one chunk.
func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	last := len(c.buf) - c.width
	// The value gets a CRC-32C of the whole chunk: bbolt checks its page
	// structure but not the bytes inside a value, and a flipped bit in a
	// hash must not go unnoticed.
	c.lastKey = append(c.lastKey[:0], c.buf[last:]...) // the sum overwrites buf[last:]
	val := appendChunkSum(c.buf[:last], c.lastKey)
	err := c.w.put(c.idx, c.lastKey, val)
	c.buf = c.buf[:0]
	return err
}
