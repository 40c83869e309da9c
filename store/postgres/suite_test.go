package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/ownmx/ownmx/store"
	"github.com/ownmx/ownmx/store/postgres"
	"github.com/ownmx/ownmx/store/storetest"
)

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, storetest.Contents) {
		s, url := newStore(t, nil)
		return s, contents(t, s, url)
	})
}

// contents reads back everything the database holds: each mailbox entry is
// a message, read through Store.Open; a message that no entry refers to, or
// chunks of no message, are Partial: what a delivery that did not finish
// would leave.
func contents(t *testing.T, s *postgres.Store, url string) storetest.Contents {
	db := sqlDB(t, url)
	return storetest.ContentsFunc(func(ctx context.Context) ([]storetest.Message, error) {
		var msgs []storetest.Message
		rows, err := db.Query(ctx, `SELECT id, mailbox, folder FROM mail_entries ORDER BY id`)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var mailbox, folder string
			if err := rows.Scan(&id, &mailbox, &folder); err != nil {
				return nil, err
			}
			msgs = append(msgs, storetest.Message{
				Path:       fmt.Sprintf("entry %d (%s/%s)", id, mailbox, folder),
				Mailbox:    mailbox,
				Quarantine: folder == postgres.Junk,
				Open:       func() (io.ReadCloser, error) { return s.Open(ctx, id) },
			})
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		rows, err = db.Query(ctx, `
			SELECT 'message ' || m.id FROM mail_messages m
			WHERE NOT EXISTS (SELECT 1 FROM mail_entries e WHERE e.message = m.id)
			UNION ALL
			SELECT 'chunk ' || c.message || '/' || c.seq FROM mail_chunks c
			WHERE NOT EXISTS (SELECT 1 FROM mail_messages m WHERE m.id = c.message)`)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var what string
			if err := rows.Scan(&what); err != nil {
				return nil, err
			}
			msgs = append(msgs, storetest.Message{
				Path:    what + " with no mailbox entry",
				Partial: true,
				Open:    func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(nil)), nil },
			})
		}
		return msgs, rows.Err()
	})
}
