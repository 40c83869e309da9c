package store

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// deliveries counts the file names made by this process; it goes into every
// name, so that two deliveries in one process in the same microsecond differ.
var deliveries atomic.Uint64

// pid is this process's id, for names.
var pid = strconv.Itoa(os.Getpid())

// defaultHost is os.Hostname made safe for a file name, or "localhost".
var defaultHost = sync.OnceValue(func() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return safeHost(h)
})

// safeHost writes "/" and ":" in a host name as \057 and \072, as the
// maildir spec says, and drops control characters, so that the host can end
// a file name (and new/ never holds a ":", which starts a Maildir's info).
func safeHost(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c == '/':
			b.WriteString(`\057`)
		case c == ':':
			b.WriteString(`\072`)
		case c < ' ' || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "localhost"
	}
	return b.String()
}

// uniqueName returns a Maildir file name in the modern form of the spec,
// "<seconds>.M<microseconds>P<pid>Q<count>R<random>.<host>": the time, this
// process, a counter within it and 64 random bits, which keep two processes
// apart even when they share a pid (in containers on one volume, or after pid
// reuse within a microsecond). Files are also created with O_EXCL or linked
// without replacing, so a clash fails rather than overwrites.
func uniqueName(now time.Time, host string) string {
	var b []byte
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, ".M"...)
	b = strconv.AppendInt(b, int64(now.Nanosecond()/1000), 10)
	b = append(b, 'P')
	b = append(b, pid...)
	b = append(b, 'Q')
	b = strconv.AppendUint(b, deliveries.Add(1), 10)
	b = append(b, 'R')
	r := rand.Uint64()
	const hex = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hex[(r>>i)&0xf])
	}
	b = append(b, '.')
	b = append(b, host...)
	return string(b)
}
