package queue

import (
	"fmt"
	"strconv"
	"time"
)

// Message IDs.
//
// A message's ID is the time of its commit in Unix nanoseconds, written as
// 16 lowercase hexadecimal digits: IDs sort as their messages were
// committed, fit in a uint64 in memory, and name the message's file. A
// queue hands out increasing IDs, starting above the highest it finds on
// disk when it opens, so an ID is not used twice even when the clock goes
// back; the rename that commits a message refuses to replace a file, as a
// last guard.

// idLen is the length of an ID.
const idLen = 16

// formatID writes id as a message ID.
func formatID(id uint64) string { return fmt.Sprintf("%016x", id) }

// parseID reads a message ID, as formatID writes it.
func parseID(s string) (uint64, bool) {
	if len(s) != idLen {
		return 0, false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 16, 64)
	return n, err == nil
}

// idTime returns the commit time that id records.
func idTime(id uint64) time.Time { return time.Unix(0, int64(id)) }

// attemptID names delivery i of message id.
func attemptID(id string, i int) string { return id + "." + strconv.Itoa(i) }
