package postgres

import (
	"fmt"
	"strconv"
)

// Message IDs.
//
// A message's ID is a number from a sequence that started at the
// nanosecond its schema was made, written as 16 lowercase hexadecimal
// digits, as the local queue writes its own: IDs are unique in the
// database, sort (nearly) in commit order, and do not come back when the
// database is made anew. Delivery i of message ID is tried as Attempt.ID
// "ID.i".

// formatID writes id as a message ID.
func formatID(id int64) string { return fmt.Sprintf("%016x", uint64(id)) }

// parseID reads a message ID, as formatID writes it.
func parseID(s string) (int64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 16, 64)
	if err != nil || n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// attemptID names delivery i of message id.
func attemptID(id int64, i int) string { return formatID(id) + "." + strconv.Itoa(i) }
