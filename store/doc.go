// Package store is where accepted mail lands: a Store either keeps the whole
// message durably and returns nil, or returns an error and leaves nothing
// behind. Maildir is the first Store.
package store
