package store_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
	"github.com/ownmx/ownmx/store"
)

// TestReplyAfterDirectorySync checks "250 means on disk" on the real path:
// an smtpd server storing into a Maildir, a message sent over SMTP. The
// fsync of new/ must run after the message's name is in new/ and before
// the Data handler returns, which is when the server may answer 250; and
// the client has its 250 only after that.
func TestReplyAfterDirectorySync(t *testing.T) {
	for _, named := range []bool{false, true} {
		t.Run(map[bool]string{false: "O_TMPFILE", true: "named tmp file"}[named], func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "me")
			md := &store.Maildir{Dir: dir}
			if named {
				md = store.NamedTmp(md)
			}
			newDir := filepath.Join(dir, "new")

			var mu sync.Mutex
			var events []string
			note := func(e string) {
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
			}
			store.SetDirSynced(t, func(path string) {
				if path != newDir {
					return
				}
				entries, _ := os.ReadDir(newDir)
				if len(entries) == 1 {
					note("new/ synced with the message in it")
				} else {
					note("new/ synced without the message")
				}
			})
			deliver := store.Handler(md)
			addr := smtptest.Start(t, &smtpd.Server{
				Hostname: "mx.example.com",
				Rcpt:     smtpd.AcceptDomains("example.com"),
				Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
					err := deliver.Data(ctx, env, r)
					note("handler returned")
					return err
				}),
			})
			if err := smtptest.Send(addr, "alice@example.org", []string{"me@example.com"}, "Subject: durable\r\n\r\nhi\r\n"); err != nil {
				t.Fatal(err)
			}
			note("client got 250")

			mu.Lock()
			defer mu.Unlock()
			want := []string{"new/ synced with the message in it", "handler returned", "client got 250"}
			// Creating the Maildir syncs new/ once while it is empty; only
			// the order of the events after the message matters.
			got := slices.DeleteFunc(slices.Clone(events), func(e string) bool { return e == "new/ synced without the message" })
			if !slices.Equal(got, want) {
				t.Fatalf("events %q, want %q", events, want)
			}
		})
	}
}
