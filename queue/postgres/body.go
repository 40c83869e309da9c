package postgres

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
)

// body reads a stored message, one chunk at a time, for a try: it is the
// io.ReaderAt under Message.Body. It keeps the last chunk it read, so
// that reading the message from start to end costs a query per chunk.
type body struct {
	ctx  context.Context // the try's
	pool *pgxpool.Pool
	id   int64
	size int64

	mu   sync.Mutex
	seq  int64 // the chunk in data; -1 for none
	data []byte
}

// newBody returns the reader of message id, of size bytes, for a try
// running under ctx.
func newBody(ctx context.Context, pool *pgxpool.Pool, id, size int64) *io.SectionReader {
	return io.NewSectionReader(&body{ctx: ctx, pool: pool, id: id, size: size, seq: -1}, 0, size)
}

// ReadAt reads len(p) bytes at off, as io.ReaderAt does.
func (b *body) ReadAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= b.size {
			return n, io.EOF
		}
		seq := pos / chunkSize
		if seq != b.seq {
			b.seq = -1
			err := b.pool.QueryRow(b.ctx, `SELECT data FROM ownmx_queue_chunk WHERE message = $1 AND seq = $2`, b.id, seq).Scan(&b.data)
			if err != nil {
				return n, fmt.Errorf("queue/postgres: reading chunk %d of message %s: %w", seq, formatID(b.id), err)
			}
			b.seq = seq
		}
		start := pos - seq*chunkSize
		if start >= int64(len(b.data)) {
			return n, fmt.Errorf("queue/postgres: chunk %d of message %s is short: %d bytes", seq, formatID(b.id), len(b.data))
		}
		n += copy(p[n:], b.data[start:])
	}
	return n, nil
}
