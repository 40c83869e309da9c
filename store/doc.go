// Package store is where accepted mail lands. A Store either keeps the whole
// message durably and returns nil, or returns an error and leaves nothing
// behind; a server answers 250 to DATA only after a nil.
//
// Maildir writes one Maildir (https://cr.yp.to/proto/maildir.html): the
// message goes into tmp/, is flushed to disk, is linked into new/, and the
// directory is flushed before Deliver returns. Quarantined messages
// (Envelope.Quarantine) go to the Maildir++ subfolder .Junk. Concurrent
// deliveries to one directory share its flushes where they can, and no
// delivery returns before a flush of new/ that began after its message
// appeared there.
//
// Mailboxes routes each recipient to its own Maildir under a root,
// ROOT/<domain>/<local>/, and offers the Rcpt handler that refuses unknown
// users while the client is still at RCPT TO. As a catch-all it bounds the
// mailboxes that strangers can make by sending mail (MaxMailboxes,
// MaxNewMailboxesPerHour), with a temporary 450 4.2.1 past them.
//
// Nothing beneath the root is reached through a symbolic link: every
// folder is opened relative to its parent's descriptor, with openat2
// (RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) on Linux and O_NOFOLLOW at each
// step elsewhere, so a link planted in the tree cannot send mail outside
// it (ErrSymlink). A failed delivery removes what it made, folders
// included. FreeSpace reports the room left, for a server that stops
// taking mail before the disk is full.
//
// Wiring, with a server from package smtpd:
//
//	boxes := &store.Mailboxes{Root: "/var/mail/ownmx", Domains: []string{"example.com"}}
//	srv := &smtpd.Server{Rcpt: boxes, Data: store.Handler(boxes)}
//
// Package storetest holds a suite that any Store can run in its tests.
package store
