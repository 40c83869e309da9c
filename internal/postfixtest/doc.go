// Package postfixtest runs a throwaway Postfix on loopback inside a test,
// as net/http/httptest runs an HTTP server: a real destination MTA for
// tests of outbound SMTP.
//
// Start writes a configuration of its own under t.TempDir() (its own
// config_directory, queue_directory and data_directory), starts it with
// "postfix -c DIR start" and stops it when the test ends, waiting until
// every process of the instance has exited. The instance listens with one
// SMTP server on a free port of a loopback address 127.0.0.x (x ≥ 2) and
// nowhere else: no port 25, no submission, no local pickup. It accepts mail
// for Options.Domains, refuses unknown users at RCPT with 550 5.1.1 and any
// other domain with 554 5.7.1, and delivers with virtual(8) into a Maildir
// under the instance's directory, where Wait finds each recipient's copies.
// Nothing leaves the instance: its only transports for other domains are
// error(8), it looks up no client names, and it logs through postlogd(8)
// into a file of its own (Log), never to the system's syslog.
//
// The system's Postfix is not changed: its configuration in /etc/postfix,
// its queue and the modes of its programs stay as they are, and it is not
// started. Several instances run at once, each with its own directory and
// address. Postfix must be started
// as root: Start uses "sudo -n" when the test does not run as root, and
// fails the test with a clear message when it cannot.
//
// An instance left running by a test process that was killed (a timeout,
// SIGKILL) is stopped by the next Start on the machine.
package postfixtest
