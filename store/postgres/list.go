package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultPageSize is the number of summaries in a Page whose Size is zero.
const DefaultPageSize = 50

// Summary is what a mail client shows of a message in a folder: one entry
// of one mailbox. From and Subject are read from the message's header at
// delivery, decoded (RFC 2047); they are empty when missing.
type Summary struct {
	// ID names the entry in Open, MarkSeen, Move and Delete.
	ID       int64
	Mailbox  string
	Folder   string
	Received time.Time
	// Size is the message's size in bytes.
	Size int64
	// From is the From field's first mailbox, "Name <address>" or
	// "address", or the field's text when it holds no address.
	From    string
	Subject string
	Seen    bool
}

// Page says which part of a folder List returns: a Page of the zero value
// (or with only Size set) asks for the newest entries, and each List
// returns the Page that follows its own. The position is a keyset (the
// last entry's time and ID), not an offset: entries delivered between two
// calls are newer than the position and do not shift the pages after it.
type Page struct {
	// Size is the most summaries a page holds. Zero means DefaultPageSize
	// (50); negative means no limit.
	Size int

	after    bool // received and id hold the last entry of the previous page
	received time.Time
	id       int64
	done     bool
}

// Done reports that the page before this one was the last: List returns
// nothing for it.
func (p Page) Done() bool { return p.done }

// List returns the entries of a mailbox's folder (Inbox or Junk) newest
// first, from page on, and the Page after them, whose Done is true when
// nothing follows. mailbox is a name as Mailbox returns it, matched
// exactly.
func (s *Store) List(ctx context.Context, mailbox, folder string, page Page) ([]Summary, Page, error) {
	if err := checkFolder(folder); err != nil {
		return nil, page, err
	}
	if page.done {
		return nil, page, nil
	}
	size := page.Size
	if size == 0 {
		size = DefaultPageSize
	}
	limit := int64(size) + 1 // one more, to learn whether a page follows
	if size < 0 {
		limit = -1
	}
	// Two statements rather than one with an optional condition, so that
	// the plan PostgreSQL keeps for each starts the index scan at the
	// position: a page deep in a folder costs what the first one does.
	query, args := listFirst, []any{mailbox, folder, limit}
	if page.after {
		query, args = listAfter, append(args, page.received, page.id)
	}
	var list []Summary
	err := s.withConn(ctx, func(conn *pgxpool.Conn) error {
		list = list[:0]
		rows, err := conn.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			sum := Summary{Mailbox: mailbox, Folder: folder}
			if err := rows.Scan(&sum.ID, &sum.Received, &sum.Seen, &sum.Size, &sum.From, &sum.Subject); err != nil {
				return err
			}
			list = append(list, sum)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, page, fmt.Errorf("postgres: listing %s/%s: %w", mailbox, folder, err)
	}
	next := Page{Size: page.Size, done: true}
	if size >= 0 && len(list) > size {
		list = list[:size]
		last := list[size-1]
		next = Page{Size: page.Size, after: true, received: last.Received, id: last.ID}
	}
	return list, next, nil
}

// The statements of List: the first page of a folder, and the page after
// a position. LIMIT NULL is no limit.
const (
	listFirst = `SELECT e.id, e.received, e.seen, m.size, m.header_from, m.subject
		FROM mail_entries e JOIN mail_messages m ON m.id = e.message
		WHERE e.mailbox = $1 AND e.folder = $2
		ORDER BY e.received DESC, e.id DESC
		LIMIT CASE WHEN $3::bigint < 0 THEN NULL ELSE $3::bigint END`
	listAfter = `SELECT e.id, e.received, e.seen, m.size, m.header_from, m.subject
		FROM mail_entries e JOIN mail_messages m ON m.id = e.message
		WHERE e.mailbox = $1 AND e.folder = $2 AND (e.received, e.id) < ($4::timestamptz, $5::bigint)
		ORDER BY e.received DESC, e.id DESC
		LIMIT CASE WHEN $3::bigint < 0 THEN NULL ELSE $3::bigint END`
)

// checkFolder returns an error wrapping ErrUnknownFolder unless folder is
// Inbox or Junk.
func checkFolder(folder string) error {
	if folder != Inbox && folder != Junk {
		return fmt.Errorf("%w: %q", ErrUnknownFolder, folder)
	}
	return nil
}
