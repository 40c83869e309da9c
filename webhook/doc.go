// Package webhook POSTs received messages to an HTTP endpoint, signed as
// the Standard Webhooks specification (v1.0.0) has it, and gives receivers
// in Go the Verify to check them.
//
// An Endpoint is a queue.Runner: the queue calls Run for each delivery and
// retries it with backoff until the receiver answers 2xx. Its Sync form
// sends at once instead, for an application that wants its receiver to
// choose the SMTP reply:
//
//	e := &webhook.Endpoint{URL: "https://app.example/mail", Secrets: []string{secret}}
//	if err := e.Check(); err != nil { ... }           // a malformed URL or secret
//	q.Run(ctx, e)                                      // queued: retries, dead letters
//	err := e.Sync().Decide(ctx, m, rcpt)               // or at once: nil, 550 or 451
//
// # Signature
//
// Each request carries three headers (Standard Webhooks, "Webhook
// headers"): webhook-id, which names the delivery (queue.Attempt.ID) and
// stays the same across retries, so that a receiver can recognise a repeat;
// webhook-timestamp, the Unix seconds of this try, fresh at each; and
// webhook-signature, "v1," and the base64 HMAC-SHA256 of
// "id.timestamp.body" keyed with the bytes of a "whsec_" secret, one such
// signature per secret, separated by spaces, so that a secret can be
// rotated without a lost webhook. A receiver checks them with Verify
// (constant-time comparison, DefaultTolerance of five minutes on the
// timestamp, several secrets), or with any Standard Webhooks library: the
// tests run the reference one (npm standardwebhooks) on what Endpoint
// sends.
//
// # Answers
//
// A webhook is done when the receiver answers 2xx. A 4xx other than 408
// and 429 is a refusal of the message: Run returns it as queue.Permanent,
// and the delivery goes to the dead letters at once (410 Gone, say, or 400
// for a payload the receiver cannot use). 408, 429, 5xx, a timeout
// (Timeout, 30 s by default) and a connection error are retried; a
// Retry-After header (seconds or an HTTP-date, RFC 9110 §10.2.3) sets the
// earliest next try through queue.RetryAfter.
//
// Redirects (3xx) are not followed, and are retried like a 5xx: a redirect
// would send the message and its signature to a URL that nobody
// configured, and POST turns into GET on 301 and 302. The error names the
// Location, so that the operator sets the URL to it; once that is done, the
// queued messages go there on their next try, none lost. A 1xx that ends
// the exchange (101) is retried too.
//
// Errors say the URL without its userinfo, query string and fragment,
// which may hold secrets, the status, and the first 200 bytes of the
// response's body with control characters and invalid UTF-8 replaced.
//
// # The JSON payload
//
// Format JSON, the default, sends Content-Type application/json and a
// Payload in the shape Standard Webhooks recommends: "type" (always
// "message.received"), "timestamp" (when the message was received,
// RFC 3339) and "data":
//
//   - "id": the message's ID in the queue; "received": when it was received;
//     "size": its size in bytes; "quarantine": true when a filter (a DMARC
//     policy of quarantine) wants it in a Junk folder.
//   - "envelope": "mail_from" ("" for the null sender), "rcpt_to" (the
//     recipients this webhook is for: the route's), "all_rcpt_to" (every
//     recipient of the SMTP transaction), "client_ip", "helo", "tls"
//     ({"version", "cipher"}, or null without STARTTLS), "smtputf8",
//     "smtp_id" (the transaction's ID in the server's log).
//   - "auth": SPF, DKIM and DMARC results and the "verdict" ("deliver",
//     "quarantine" or "reject"), as auth.Results.MarshalJSON writes them;
//     null when no check ran.
//   - "message": what package message reads: "from" ({"name", "address"},
//     or null), "to", "cc", "reply_to" (lists of them), "subject" (decoded),
//     "date" (RFC 3339, or null), "message_id", "in_reply_to" and
//     "references" (without angle brackets), "text" and "html" (UTF-8, at
//     most 1 MiB each, "text_truncated" and "html_truncated" saying so),
//     "attachments", and "problems" (what could not be read of a malformed
//     message).
//   - each attachment: "part" (its IMAP section number), "filename",
//     "content_type", "disposition" ("attachment" or "inline"),
//     "content_id", "size" (decoded), "content" (base64) and "omitted".
//     Contents are included in the order of the message while they fit in
//     MaxAttachmentBytes, 10 MiB in all by default; one that does not fit
//     is listed with "omitted": true and no "content" (a smaller one after
//     it may still fit).
//
// Lists are [] when empty, never null. Names are a published schema:
// fields may be added, none renamed. The body is one line of JSON; here
// indented, for a message with a text, an HTML body, a small attachment
// and one over the limit (testdata/payload.golden.json, which a test
// compares with what Endpoint sends):
//
//	{
//	  "type": "message.received",
//	  "timestamp": "2030-06-01T12:00:00Z",
//	  "data": {
//	    "id": "m1",
//	    "received": "2030-06-01T12:00:00Z",
//	    "size": 3778,
//	    "quarantine": false,
//	    "envelope": {
//	      "mail_from": "bounce@sender.example",
//	      "rcpt_to": ["bob@example.com", "carol@example.com"],
//	      "all_rcpt_to": ["bob@example.com", "carol@example.com", "info@example.com"],
//	      "client_ip": "192.0.2.1",
//	      "helo": "mx.sender.example",
//	      "tls": {"version": "TLS 1.3", "cipher": "TLS_AES_128_GCM_SHA256"},
//	      "smtputf8": false,
//	      "smtp_id": "smtp-7"
//	    },
//	    "auth": {
//	      "spf": {"result": "pass", "domain": "sender.example", "client_ip": "192.0.2.1",
//	              "helo": "mx.sender.example", "mail_from": "bounce@sender.example"},
//	      "dkim": [{"result": "pass", "domain": "sender.example", "identifier": "@sender.example"}],
//	      "dmarc": {"result": "pass", "domain": "sender.example", "policy": "reject", "sampled": true,
//	                "spf_aligned": true, "dkim_aligned": true, "verdict": "deliver"},
//	      "verdict": "deliver",
//	      "trusted": false
//	    },
//	    "message": {
//	      "from": {"name": "Alice Example", "address": "alice@sender.example"},
//	      "to": [{"name": "Bob", "address": "bob@example.com"}, {"name": "", "address": "carol@example.com"}],
//	      "cc": [{"name": "", "address": "dave@example.com"}],
//	      "reply_to": [{"name": "", "address": "replies@sender.example"}],
//	      "subject": "Quarterly report ✓",
//	      "date": "2026-06-01T12:00:00+02:00",
//	      "message_id": "report-1@sender.example",
//	      "in_reply_to": ["q-7@example.com"],
//	      "references": ["q-6@example.com", "q-7@example.com"],
//	      "text": "Hello Bob,\r\nthe report is attached.",
//	      "html": "<p>Hello Bob,<br>the report is <b>attached</b>.</p>",
//	      "text_truncated": false,
//	      "html_truncated": false,
//	      "attachments": [
//	        {"part": "2", "filename": "small.csv", "content_type": "text/csv", "disposition": "attachment",
//	         "content_id": "small@sender.example", "size": 20, "content": "cXVhcnRlcix0b3RhbA0KUTEsMTA=",
//	         "omitted": false},
//	        {"part": "3", "filename": "large.bin", "content_type": "application/octet-stream",
//	         "disposition": "attachment", "content_id": "", "size": 2048, "omitted": true}
//	      ],
//	      "problems": []
//	    }
//	  }
//	}
//
// # The raw format
//
// Format RFC822 sends the message as received, byte for byte, with
// Content-Type message/rfc822, and the envelope in headers: Envelope-Id,
// Envelope-Smtp-Id, Envelope-Received (RFC 3339), Envelope-Mail-From
// ("<addr>", "<>" for the null sender), Envelope-Rcpt-To (the route's
// recipients, one header line each, "<addr>"), Envelope-All-Rcpt-To (every
// recipient, likewise), Envelope-Client-Ip, Envelope-Helo, Envelope-Tls
// ("TLS 1.3 TLS_AES_128_GCM_SHA256", absent without STARTTLS),
// Envelope-Smtputf8 and Envelope-Quarantine ("true" or "false"),
// Envelope-Verdict and Envelope-Auth (the "auth" object above as one line
// of JSON; both absent when no check ran). The reference JavaScript library
// verifies the body as UTF-8 text (and parses it as JSON unless told
// jsonParse: false), so a receiver in JavaScript can check a message whose
// bytes are not valid UTF-8 (8-bit mail in another charset) only with
// another library or its own HMAC over the raw bytes; Verify takes bytes.
//
// # Costs
//
// A request's body is made whole before it is sent, as the signature
// covers it: for JSON, at most about 4/3 of MaxAttachmentBytes plus 2 MiB
// of text and HTML and the header fields; for RFC822, the message. At most
// MaxConcurrent (4) bodies are made at once, as a body is made only once
// a request slot is held. The message is parsed again at each try, so the
// body is the same at each.
package webhook
