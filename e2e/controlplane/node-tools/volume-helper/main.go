// Command volume-helper is the setup and teardown command of local-path-provisioner's helper
// pod: it creates (-a create) or removes (-a delete) a volume's directory (-p PATH) on the Node
// the helper pod runs on. The provisioner also passes -s SIZE and -m MODE; directories have no
// size, and only Filesystem volumes are served.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	path := flag.String("p", "", "volume directory")
	action := flag.String("a", "", "create or delete")
	mode := flag.String("m", "Filesystem", "volume mode")
	flag.String("s", "0", "requested size in bytes (not enforced)")
	flag.Parse()
	if err := run(*path, *action, *mode); err != nil {
		fmt.Fprintln(os.Stderr, "volume-helper:", err)
		os.Exit(1)
	}
}

func run(path, action, mode string) error {
	if !filepath.IsAbs(path) || filepath.Clean(path) == "/" {
		return fmt.Errorf("-p %q: need an absolute volume directory below /", path)
	}
	switch action {
	case "create":
		if mode != "Filesystem" {
			return fmt.Errorf("-m %q: only Filesystem volumes are served", mode)
		}
		if err := os.MkdirAll(path, 0o777); err != nil {
			return err
		}
		// MkdirAll applies the umask; every pod user must be able to write its volume.
		return os.Chmod(path, 0o777)
	case "delete":
		return os.RemoveAll(path)
	default:
		return fmt.Errorf("-a %q: want create or delete", action)
	}
}
