package dnsx

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// RecordTTL is the TTL, in seconds, of the zone-file lines [WriteRecords]
// prints.
const RecordTTL = 3600

// noProxy is the note on address records of a mail host.
const noProxy = "DNS only: must not be proxied by your DNS provider (Cloudflare's orange cloud breaks mail)"

// Record is one DNS record to publish, in the fields a DNS provider's web
// form asks for.
type Record struct {
	// Type is "MX", "A", "AAAA" or "TXT".
	Type string `json:"type"`
	// Name is the record's owner, fully qualified without a final dot.
	Name string `json:"name"`
	// Content is the record's data as a web form takes it: a host name, an
	// address, or the TXT text without quotes.
	Content string `json:"content"`
	// Priority is the MX preference; zero for other types.
	Priority int `json:"priority,omitempty"`
	// Note is a caution to heed when publishing the record, or empty.
	Note string `json:"note,omitempty"`
}

// ZoneLine returns r as a line of an RFC 1035 §5 master file, with
// TTL RecordTTL; a TXT record's content is in strings of at most 255
// octets.
func (r Record) ZoneLine() string {
	data := r.Content
	switch r.Type {
	case "MX":
		data = strconv.Itoa(r.Priority) + " " + r.Content + "."
	case "TXT":
		// One character-string holds at most 255 octets (RFC 1035 §3.3):
		// a longer record, such as the DKIM key of an RSA key of 2048
		// bits, is written as several strings, which DNS joins.
		var strs []string
		for s := r.Content; ; {
			n := min(len(s), maxTXTString)
			strs = append(strs, `"`+escapeTXT(s[:n])+`"`)
			if s = s[n:]; s == "" {
				break
			}
		}
		data = strings.Join(strs, " ")
	}
	return fmt.Sprintf("%s. %d IN %s %s", r.Name, RecordTTL, r.Type, data)
}

// maxTXTString is the most octets one character-string of a TXT record
// holds (RFC 1035 §3.3).
const maxTXTString = 255

// Records returns the records domain must publish for its mail to arrive
// at host, whose public addresses are ips: the MX record (RFC 5321 §5.1),
// the host's A and AAAA records, an SPF record saying only the MX hosts send
// the domain's mail (RFC 7208) and a DMARC record asking receivers to
// quarantine mail that fails (RFC 7489). The address records carry a note
// that they must not be proxied.
func Records(domain, host string, ips []netip.Addr) []Record {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	recs := []Record{{Type: "MX", Name: domain, Content: host, Priority: 10}}
	for _, ip := range ips {
		t := "A"
		if !ip.Unmap().Is4() {
			t = "AAAA"
		}
		recs = append(recs, Record{Type: t, Name: host, Content: ip.Unmap().String(), Note: noProxy})
	}
	return append(recs,
		Record{Type: "TXT", Name: domain, Content: spfRecordText()},
		Record{Type: "TXT", Name: "_dmarc." + domain, Content: dmarcRecordText()},
	)
}

// WriteRecords prints recs twice: as zone-file lines, and as a table of
// type, name, content and priority to copy into a DNS provider's web form,
// followed by the records' notes.
func WriteRecords(w io.Writer, recs []Record) error {
	var b strings.Builder
	b.WriteString("; zone-file lines\n")
	for _, r := range recs {
		b.WriteString(r.ZoneLine() + "\n")
	}
	b.WriteString("\n; for a DNS provider's web form\n")
	// CONTENT last: a DKIM key is several hundred characters long.
	rows := [][]string{{"TYPE", "NAME", "PRIORITY", "CONTENT"}}
	for _, r := range recs {
		prio := ""
		if r.Type == "MX" {
			prio = strconv.Itoa(r.Priority)
		}
		rows = append(rows, []string{r.Type, r.Name, prio, r.Content})
	}
	widths := make([]int, 4)
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], len(cell))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		for i, cell := range row {
			fmt.Fprintf(&line, "%-*s", widths[i]+2, cell)
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Note == "" || seen[r.Name+r.Note] {
			continue
		}
		seen[r.Name+r.Note] = true
		fmt.Fprintf(&b, "\nnote: %s: %s\n", r.Name, r.Note)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
