package store_test

import (
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/store"
	"github.com/ownmx/ownmx/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMaildirSuite(t *testing.T) {
	for _, named := range []bool{false, true} {
		name := "O_TMPFILE"
		if named {
			name = "named tmp file"
		}
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) (store.Store, storetest.Contents) {
				dir := filepath.Join(t.TempDir(), "Maildir")
				m := &store.Maildir{Dir: dir}
				if named {
					store.NamedTmp(m)
				}
				return m, storetest.MaildirContents(dir)
			})
		})
	}
}

func TestMailboxesSuite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		users []string
		named bool
	}{
		{"catch-all", nil, false},
		{"users", []string{"rcpt"}, false},
		{"users, named tmp file", []string{"rcpt"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) (store.Store, storetest.Contents) {
				root := filepath.Join(t.TempDir(), "mail")
				m := &store.Mailboxes{Root: root, Domains: []string{"example.com"}, Users: tc.users}
				if tc.named {
					store.NamedTmpMailboxes(m)
				}
				return m, storetest.MaildirContents(root)
			})
		})
	}
}
