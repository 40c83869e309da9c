package message_test

import (
	"io"
	"testing"

	"github.com/ownmx/ownmx/message"
)

// BenchmarkParse parses messages of 1 and 25 MiB shaped as 1000 parts or
// as one big attachment, with an Attachment func that reads every
// content. B/op is what one parse allocates in all, peak-live-KiB the
// most the live heap grew during one parse (sampled every 256 KiB of
// input, after a collection): both stay flat while the message grows 25
// times. Each has its baseline in the same run: io.Copy of the same
// message to io.Discard, the cost of only reading it. The last is the
// costliest shape found: each of 16 nested multipart readers returns a
// line at a time.
func BenchmarkParse(b *testing.B) {
	read := func(a *message.Attachment, content io.Reader) error {
		_, err := io.Copy(io.Discard, content)
		return err
	}
	for _, msg := range []bigMessage{manyParts(mib, 1000), manyParts(25*mib, 1000), oneAttachment(mib), oneAttachment(25 * mib), boundaryLines(25 * mib)} {
		b.Run("baseline io.Copy/"+msg.name, func(b *testing.B) {
			b.SetBytes(msg.size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := io.Copy(io.Discard, msg.new()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(msg.name, func(b *testing.B) {
			b.SetBytes(msg.size)
			b.ReportAllocs()
			opts := &message.Options{Attachment: read}
			for b.Loop() {
				if _, err := message.ParseWithOptions(msg.new(), opts); err != nil {
					b.Fatal(err)
				}
			}
			base := liveHeap()
			s := newSampler(msg.new(), 256<<10)
			m, err := message.ParseWithOptions(s, opts)
			if err != nil || len(m.Attachments) == 0 {
				b.Fatalf("%d attachments, error %v", len(m.Attachments), err)
			}
			s.sample()
			b.ReportMetric(float64(int64(s.peak)-int64(base))/1024, "peak-live-KiB")
		})
	}
}
