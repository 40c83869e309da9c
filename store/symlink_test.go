package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
)

// layout is every directory a delivery to me@example.com, quarantined or
// not, goes through beneath a Mailboxes root.
var layout = []string{
	"example.com",
	"example.com/me",
	"example.com/me/cur", "example.com/me/new", "example.com/me/tmp",
	"example.com/me/.Junk",
	"example.com/me/.Junk/cur", "example.com/me/.Junk/new", "example.com/me/.Junk/tmp",
}

// deliveryModes are the ways a delivery can open and write: O_TMPFILE or a
// named file in tmp/, openat2 or one component at a time.
var deliveryModes = []struct {
	name            string
	named, stepwise bool
}{
	{"O_TMPFILE,openat2", false, false},
	{"named,openat2", true, false},
	{"O_TMPFILE,stepwise", false, true},
	{"named,stepwise", true, true},
}

// A directory beneath the root that is a symbolic link is never followed,
// wherever it points: the domain, the mailbox, each of tmp/, new/ and cur/
// and the .Junk folder with its own; the delivery fails with an error that
// names the link and wraps ErrSymlink, and nothing is written anywhere.
func TestSymlinksNotFollowed(t *testing.T) {
	for _, link := range layout {
		// cur/ is only looked at while the folder is being made: leave
		// the folder's tmp/ missing so that the delivery makes it.
		folder := strings.TrimSuffix(link, "/cur")
		quarantine := strings.Contains(link, Junk)
		for _, pointing := range []string{"outside", "inside", "dangling"} {
			for _, mode := range deliveryModes {
				for _, kind := range []string{"Mailboxes", "Maildir"} {
					rel, ok := strings.CutPrefix(link, "example.com/me/")
					if kind == "Maildir" && !ok {
						continue // a Maildir has no domain or mailbox directory of its own
					}
					name := fmt.Sprintf("%s/%s/%s/%s", kind, link, pointing, mode.name)
					t.Run(name, func(t *testing.T) {
						base := t.TempDir()
						root := filepath.Join(base, "root")
						mkdir(t, root)
						// The tree the link leads to holds, below it, what a
						// delivery through it needs, so following it would work.
						outside := filepath.Join(base, "outside")
						for _, d := range layout {
							if rest, ok := strings.CutPrefix(d, link+"/"); ok {
								mkdir(t, filepath.Join(outside, rest))
							}
						}
						mkdir(t, outside)
						for _, d := range layout {
							switch {
							case d == link || strings.HasPrefix(d, link+"/"):
							case link != folder && d == folder+"/tmp":
							case strings.HasSuffix(d, Junk) && !quarantine:
							case strings.Contains(d, Junk+"/") && !quarantine:
							default:
								mkdir(t, filepath.Join(root, d))
							}
						}
						if quarantine && link != "example.com/me/.Junk" {
							writeFile(t, filepath.Join(root, "example.com/me/.Junk/maildirfolder"))
						}
						dest := outside
						switch pointing {
						case "inside": // another domain's tree, inside the root
							dest = filepath.Join(root, "other.example")
							if err := os.Rename(outside, dest); err != nil {
								t.Fatal(err)
							}
						case "dangling":
							dest = filepath.Join(base, "nowhere")
						}
						linkPath := filepath.Join(root, filepath.FromSlash(link))
						if err := os.Symlink(dest, linkPath); err != nil {
							t.Fatal(err)
						}
						before := tree(t, base)

						env := &smtpd.Envelope{Rcpt: []string{"me@example.com"}, Quarantine: quarantine}
						var s Store = &Mailboxes{Root: root, named: mode.named, stepwise: mode.stepwise}
						if kind == "Maildir" {
							linkPath = filepath.Join(root, "example.com/me", filepath.FromSlash(rel))
							s = &Maildir{Dir: filepath.Join(root, "example.com/me"), named: mode.named, stepwise: mode.stepwise}
						}
						err := s.Deliver(t.Context(), env, strings.NewReader("Subject: through a link?\r\n\r\n"))
						if !errors.Is(err, ErrSymlink) {
							t.Fatalf("Deliver through a link at %s: err = %v, want one wrapping ErrSymlink", link, err)
						}
						if !strings.Contains(err.Error(), linkPath+":") {
							t.Errorf("the error does not name the link %s: %v", linkPath, err)
						}
						if after := tree(t, base); !slices.Equal(before, after) {
							t.Errorf("the delivery changed the files:\nbefore %q\nafter  %q", before, after)
						}
					})
				}
			}
		}
	}
}

// The root itself may be a link (the operator's choice), for Mailboxes and
// for Maildir alike.
func TestRootSymlinkFollowed(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "srv-mail")
	mkdir(t, real)
	if err := os.Symlink(real, filepath.Join(base, "mail")); err != nil {
		t.Fatal(err)
	}
	for _, mode := range deliveryModes {
		t.Run(mode.name, func(t *testing.T) {
			env := &smtpd.Envelope{Rcpt: []string{"me@example.com"}}
			boxes := &Mailboxes{Root: filepath.Join(base, "mail"), named: mode.named, stepwise: mode.stepwise}
			if err := boxes.Deliver(t.Context(), env, strings.NewReader(mode.name)); err != nil {
				t.Fatalf("Mailboxes with a linked Root: %v", err)
			}
			if got := readNew(t, filepath.Join(real, "example.com", "me")); !slices.Contains(got, mode.name) {
				t.Errorf("the message is not in the Maildir behind the link: %q", got)
			}
			md := &Maildir{Dir: filepath.Join(base, "mail", "example.com", "me"), named: mode.named, stepwise: mode.stepwise}
			if err := md.Deliver(t.Context(), env, strings.NewReader(mode.name+"-maildir")); err != nil {
				t.Fatalf("Maildir with a linked Dir: %v", err)
			}
			if got := readNew(t, filepath.Join(real, "example.com", "me")); !slices.Contains(got, mode.name+"-maildir") {
				t.Errorf("the message is not in the Maildir behind the link: %q", got)
			}
		})
	}
}

// mkdir makes dir and its parents.
func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

// writeFile makes an empty file.
func writeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tree lists everything under root, links not followed: each path with
// its kind ("d" directory, "f" file, "l" link), and, for a directory, its
// inode number, so that one removed and made again shows.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var list []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		kind := "f"
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			kind = "l"
		case e.IsDir():
			kind = "d"
		}
		if kind == "d" {
			fi, err := e.Info()
			if err != nil {
				return err
			}
			kind += fmt.Sprintf("%d", inode(fi))
		}
		list = append(list, kind+" "+rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// inode returns fi's inode number.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
