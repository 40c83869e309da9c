// Package mtasts reads the MTA-STS policy of a mail domain (RFC 8461): the
// "_mta-sts" TXT record that announces it, and the policy itself, fetched
// over HTTPS from https://mta-sts.<domain>/.well-known/mta-sts.txt. A
// sending MTA that finds a policy in enforce mode delivers only to MX hosts
// that the policy names, over TLS with a certificate that verifies for the
// host's name.
//
// A Fetcher fetches and caches policies; Policy.Match tells whether an MX
// host is one the policy allows. The send package applies them.
package mtasts
