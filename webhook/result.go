package webhook

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ownmx/ownmx/queue"
)

// Bounds on what is read of a response.
const (
	// snippetBytes is how much of a failed response's body its error
	// quotes, at most, once sanitised.
	snippetBytes = 200
	// drainBytes is how much of a response's body is read so that its
	// connection can serve the next request; a longer body closes it.
	drainBytes = 64 << 10
)

// StatusError is the error of a response other than 2xx. Run returns it
// wrapped in queue.Permanent or queue.RetryAfter as the status asks
// (errors.As finds it).
type StatusError struct {
	// URL is the Endpoint's URL without its userinfo, query string and
	// fragment, which may hold secrets.
	URL string
	// StatusCode is the response's status code.
	StatusCode int
	// Location is a redirect's Location, redacted as URL.
	Location string
	// Body is the start of the response's body, at most 200 bytes, with
	// control characters and invalid UTF-8 replaced: for the log.
	Body string
}

// Error says the URL, the status and the start of the body.
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "webhook: POST %s: %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.StatusCode >= 300 && e.StatusCode < 400 {
		b.WriteString(" (redirects are not followed: set the webhook URL to the one it names")
		if e.Location != "" {
			fmt.Fprintf(&b, ", %s", e.Location)
		}
		b.WriteString(")")
	}
	if e.Body != "" {
		fmt.Fprintf(&b, ": %q", e.Body)
	}
	return b.String()
}

// outcome returns nil for a 2xx response, and otherwise the error that
// says what the queue is to do. It reads what it needs of the body.
func (e *Endpoint) outcome(where string, resp *http.Response) error {
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))
		return nil
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 4*snippetBytes))
	io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))
	err := &StatusError{URL: where, StatusCode: code, Body: sanitise(head, snippetBytes)}
	if code >= 300 && code <= 399 {
		if loc := resp.Header.Get("Location"); loc != "" {
			err.Location = redact(loc)
		}
	}
	if permanent(code) {
		return queue.Permanent(err)
	}
	if after, ok := parseRetryAfter(resp.Header.Get("Retry-After"), e.now()); ok {
		return queue.RetryAfter(err, after)
	}
	return err
}

// permanent reports whether a response's status (not 2xx) says that the
// receiver refused the message for good: a 4xx other than 408 Request
// Timeout and 429 Too Many Requests (RFC 9110 §15.5.9, RFC 6585 §4), which
// are about the moment, not the message.
func permanent(code int) bool {
	return code >= 400 && code <= 499 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}

// parseRetryAfter reads a Retry-After header (RFC 9110 §10.2.3): a number
// of seconds or an HTTP-date, as a wait from now. A date in the past is a
// wait of zero; a number too large for a time.Duration is the largest.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Second) {
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// redact returns a URL for errors and logs: without userinfo, query
// string and fragment, which may hold secrets (a token in ?key=).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Keep the scheme and host, if they can be found, and no more.
		scheme, rest, ok := strings.Cut(raw, "://")
		if !ok {
			return "(unreadable URL)"
		}
		host, _, _ := strings.Cut(rest, "/")
		if _, h, ok := strings.Cut(host, "@"); ok {
			host = h
		}
		return sanitise([]byte(scheme+"://"+host), 100) + "/..."
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// sanitise returns b as one line of valid UTF-8 of at most n bytes:
// invalid bytes, control and format characters (a bidi override) become spaces, runs of spaces
// one space, and a longer text is cut with "...".
func sanitise(b []byte, n int) string {
	var out strings.Builder
	space := false
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			space = true
			continue
		}
		if space && out.Len() > 0 {
			out.WriteByte(' ')
		}
		space = false
		out.WriteRune(r)
	}
	if out.Len() <= n {
		return out.String()
	}
	cut := out.String()[:n-len("...")]
	for !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	return cut + "..."
}
