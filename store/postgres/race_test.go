//go:build race

package postgres_test

// raceEnabled is true under the race detector, where sync.Pool drops a
// share of what is put back (to shake out races), so that pgx's buffer
// pools allocate anew and counts of bytes allocated say nothing of the
// store.
const raceEnabled = true
