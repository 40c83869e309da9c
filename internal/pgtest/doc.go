// Package pgtest starts throwaway PostgreSQL servers for tests, in the
// manner of net/http/httptest: a real postgres(1) from the installed
// binaries (Debian package postgresql, which .ci/run installs), initialised
// by initdb(1) in a temporary directory, listening on 127.0.0.1 on a free
// port and on a Unix socket in that directory, never the system's cluster.
//
// Start gives a test a cluster of its own, which it may stop, restart and
// kill to test faults. Shared gives a test a fresh empty database on one
// cluster shared by the whole test binary, which saves initdb's second or
// so per test; a package that uses Shared wraps its TestMain's testing.M
// with Main, which stops that cluster when the tests are done:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Main(m)) }
//
// PostgreSQL refuses to run as root, so when the tests run as root the
// servers run as the postgres system user (made by the Debian package),
// and otherwise as the test's own user. The servers keep fsync and
// synchronous_commit on, so that tests of durability mean something.
package pgtest
