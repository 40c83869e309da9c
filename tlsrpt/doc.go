// Package tlsrpt reads SMTP TLS reporting (RFC 8460): the "_smtp._tls"
// TXT record by which a domain asks senders for reports, and the
// aggregate reports that senders such as Google and Microsoft then mail to
// it once a day, saying how many of their sessions to the domain's MX
// hosts negotiated TLS under its MTA-STS policy (RFC 8461) and why the
// others failed.
//
// [ParseRecord] reads the TXT record and [CheckDomain] checks the one a
// domain publishes; mtasts.Records gives the record to publish. [Parse]
// reads a report, JSON or gzip-compressed JSON, bounded in what it reads
// and in what it decompresses; [FromMessage] finds the report in the mail
// that carries it (RFC 8460 §5.3). [Summarize] adds reports up per
// policy domain into a [Summary] a domain's owner reads: sessions that
// succeeded and failed, failures by result type, and the sending and
// receiving hosts of the failures.
//
// A domain in MTA-STS testing mode reads these reports before it moves to
// enforce: a policy whose reports show no failures is one senders can
// follow.
package tlsrpt
