package postfixtest

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Hostname is the instance's myhostname, which its greeting and the "by"
// of its Received header name; Options.Main["myhostname"] replaces it.
const Hostname = "mx.test"

// inbox is the Maildir, under the instance's mail directory, that every
// recipient's copy is delivered to; each copy's Delivered-To header says
// whose it is.
const inbox = "inbox"

// paths are where an instance keeps its files, all under its Dir.
type paths struct {
	dir     string
	config  string // config_directory: main.cf, master.cf, users
	queue   string // queue_directory
	data    string // data_directory
	mail    string // virtual_mailbox_base
	maillog string // maillog_file
}

func newPaths(dir string) paths {
	return paths{
		dir:     dir,
		config:  filepath.Join(dir, "etc"),
		queue:   filepath.Join(dir, "spool"),
		data:    filepath.Join(dir, "data"),
		mail:    filepath.Join(dir, "mail"),
		maillog: filepath.Join(dir, "maillog"),
	}
}

// outboundDisabled is the error(8) transport of every domain the instance
// does not host: relaying is refused at RCPT, and a bounce to a sender
// fails here rather than going out.
const outboundDisabled = "error:5.7.1 this Postfix test instance sends no mail out"

// mainSettings returns main.cf for an instance listening on addr, whose
// Maildir belongs to uid and gid, with importEnv as import_environment.
func mainSettings(p paths, opts Options, addr netip.AddrPort, uid, gid int, importEnv string) map[string]string {
	m := map[string]string{
		// Postfix's own, and the test process's id for stopStale.
		"import_environment": importEnv,

		"compatibility_level": "3.6",
		"queue_directory":     p.queue,
		"data_directory":      p.data,
		"mail_owner":          "postfix",
		"setgid_group":        "postdrop",

		"myhostname":    Hostname,
		"mydestination": "",
		// inet_interfaces takes only addresses of an interface, and lo has
		// 127.0.0.1/8: the listener is on the chosen address through
		// master.cf, which names it.
		"inet_interfaces": "loopback-only",
		"inet_protocols":  "ipv4",
		// Only the instance itself is trusted; clients are outside MTAs.
		"mynetworks": netip.PrefixFrom(addr.Addr(), 32).String(),
		// Clients get no header rewriting and no added Message-ID, Date or
		// To: the message arrives as sent, below Postfix's trace headers.
		"local_header_rewrite_clients": "",
		"smtpd_relay_restrictions":     "reject_unauth_destination",
		"smtpd_peername_lookup":        "no", // no DNS: clients show as unknown[IP]
		"smtputf8_enable":              "yes",
		"smtpd_banner":                 "$myhostname ESMTP Postfix (postfixtest)",
		"biff":                         "no",
		"append_dot_mydomain":          "no",
		"alias_maps":                   "",
		"local_recipient_maps":         "", // no local domain; else smtpd wants proxymap(8)
		"alias_database":               "",

		"maillog_file":          p.maillog,
		"maillog_file_prefixes": p.dir,

		"virtual_mailbox_domains":             strings.Join(opts.Domains, ", "),
		"virtual_mailbox_base":                p.mail,
		"virtual_mailbox_maps":                "static:" + inbox + "/",
		"virtual_uid_maps":                    "static:" + strconv.Itoa(uid),
		"virtual_gid_maps":                    "static:" + strconv.Itoa(gid),
		"virtual_minimum_uid":                 strconv.Itoa(min(uid, 100)),
		"unknown_virtual_mailbox_reject_code": "550",

		"local_transport":   outboundDisabled,
		"relay_transport":   outboundDisabled,
		"default_transport": outboundDisabled,

		"smtpd_tls_security_level": "none",
	}
	if opts.Users != nil {
		m["virtual_mailbox_maps"] = "texthash:" + filepath.Join(p.config, "users")
	}
	if opts.CertFile != "" {
		m["smtpd_tls_security_level"] = "may"
		m["smtpd_tls_cert_file"] = opts.CertFile
		m["smtpd_tls_key_file"] = opts.KeyFile
		m["smtpd_tls_received_header"] = "yes" // "using TLSv1.3 with cipher ..."
		m["smtpd_tls_loglevel"] = "1"
	}
	for k, v := range opts.Main {
		m[k] = v
	}
	return m
}

// masterServices are the master.cf services besides the SMTP server, all
// reached through sockets in the queue directory: no pickup (local
// submission), no smtp or lmtp client (nothing goes out), no local(8).
// Columns: service type private unpriv chroot wakeup maxproc command.
const masterServices = `cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
flush     unix  n       -       n       1000?   0       flush
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
postlog   unix-dgram n  -       n       -       1       postlogd
`

// masterCF returns master.cf: the SMTP server on addr only, then the
// internal services. Nothing runs chrooted, so the paths of main.cf hold.
func masterCF(addr netip.AddrPort) string {
	return addr.String() + " inet n - n - - smtpd\n" + masterServices
}

// writeConfig writes main.cf, master.cf and, when opts.Users is not nil,
// the users table.
func writeConfig(p paths, opts Options, addr netip.AddrPort, uid, gid int) error {
	importEnv, err := importEnvironment()
	if err != nil {
		return err
	}
	settings := mainSettings(p, opts, addr, uid, gid, importEnv)
	var main strings.Builder
	main.WriteString("# Written by postfixtest for one test; removed when it ends.\n")
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		fmt.Fprintf(&main, "%s = %s\n", k, settings[k])
	}
	files := map[string]string{
		"main.cf":   main.String(),
		"master.cf": masterCF(addr),
	}
	if opts.Users != nil {
		// texthash(5): one "key value" line each. Postfix looks addresses
		// up in lower case, and virtual(8), unlike smtpd(8), does not fold
		// the keys it reads: a key in capitals would be accepted at RCPT
		// and bounced as unknown at delivery.
		var users strings.Builder
		for _, u := range opts.Users {
			fmt.Fprintf(&users, "%s %s/\n", strings.ToLower(u), inbox)
		}
		files["users"] = users.String()
	}
	// Postfix takes a file changed in the last second or two for one still
	// being written, and reads it again every 300 ms until it is older
	// (dict_load_file_xt): files dated an hour back save two seconds of
	// each start.
	past := time.Now().Add(-time.Hour)
	for name, content := range files {
		path := filepath.Join(p.config, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return fmt.Errorf("postfixtest: writing %s: %w", name, err)
		}
		if err := os.Chtimes(path, past, past); err != nil {
			return fmt.Errorf("postfixtest: dating %s: %w", name, err)
		}
	}
	return nil
}

// parameterName is the form of a main.cf parameter name.
var parameterName = regexp.MustCompile(`^[a-z0-9_]+$`)

// validate says what is wrong with opts, if anything.
func validate(opts Options) error {
	if len(opts.Domains) == 0 {
		return fmt.Errorf("postfixtest: Options.Domains is empty: Postfix would accept mail for no one")
	}
	for _, d := range opts.Domains {
		if d == "" || strings.ContainsFunc(d, notInWord) || strings.ContainsAny(d, ",@") {
			return fmt.Errorf("postfixtest: Options.Domains: %q is not a domain", d)
		}
	}
	for _, u := range opts.Users {
		at := strings.LastIndexByte(u, '@')
		if at <= 0 || strings.ContainsFunc(u, notInWord) {
			return fmt.Errorf("postfixtest: Options.Users: %q is not an address local@domain without spaces", u)
		}
		if !hasDomain(opts.Domains, u[at+1:]) {
			return fmt.Errorf("postfixtest: Options.Users: %q is not at one of Options.Domains %q", u, opts.Domains)
		}
	}
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return fmt.Errorf("postfixtest: Options.CertFile %q and KeyFile %q: give both or neither", opts.CertFile, opts.KeyFile)
	}
	for k, v := range opts.Main {
		if !parameterName.MatchString(k) {
			return fmt.Errorf("postfixtest: Options.Main: %q is not a main.cf parameter name", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("postfixtest: Options.Main[%q]: %q holds a line break", k, v)
		}
	}
	if opts.IP.IsValid() && !(opts.IP.Is4() && opts.IP.IsLoopback()) {
		return fmt.Errorf("postfixtest: Options.IP %s is not an IPv4 loopback address (127.0.0.0/8)", opts.IP)
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return fmt.Errorf("postfixtest: Options.Port %d is not a TCP port", opts.Port)
	}
	return nil
}

// notInWord reports the runes that end a word in Postfix's configuration
// files: spaces and control characters.
func notInWord(r rune) bool { return r <= ' ' || r == 0x7f }

// hasDomain reports whether domain is one of domains, ignoring case.
func hasDomain(domains []string, domain string) bool {
	return slices.ContainsFunc(domains, func(d string) bool { return strings.EqualFold(d, domain) })
}
