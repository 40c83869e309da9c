package message_test

import (
	"io"
	"runtime"
	"testing"

	"github.com/ownmx/ownmx/message"
)

// maxGrowth is the heap growth allowed while parsing a message of any
// size: the Text and the HTML (1 MiB each at most), one header (128 KiB)
// and buffers.
const maxGrowth = 4 * mib

// TestMemoryBounded parses 25 MiB messages (smtpd's default
// MaxMessageBytes) shaped as real mail with many attachments or one big
// one, and shaped to make a parser hold them, with an Attachment func
// that reads every content: the live heap, sampled every MiB of
// input, never grows by more than maxGrowth.
func TestMemoryBounded(t *testing.T) {
	const size = 25 * mib
	msgs := append([]bigMessage{manyParts(size, 1000), oneAttachment(size)}, hostile(size)...)
	for _, msg := range msgs {
		t.Run(msg.name, func(t *testing.T) {
			var read int64
			opts := &message.Options{Attachment: func(a *message.Attachment, content io.Reader) error {
				n, err := io.Copy(io.Discard, content)
				read += n
				return err
			}}
			src := msg.new()
			base := liveHeap()
			s := newSampler(src, mib)
			m, err := message.ParseWithOptions(s, opts)
			s.sample()
			growth := int64(s.peak) - int64(base)
			t.Logf("read %d MiB, attachments %d (%d MiB), text %d B, HTML %d B; live heap grew by %d KiB at most; %v",
				s.read/mib, len(m.Attachments), read/mib, len(m.Text), len(m.HTML), growth>>10, errSummary(err))
			if growth > maxGrowth {
				t.Errorf("the live heap grew by %d KiB while parsing, more than %d KiB", growth>>10, maxGrowth>>10)
			}
			runtime.KeepAlive(m)
		})
	}
}

func errSummary(err error) string {
	if err == nil {
		return "no error"
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
