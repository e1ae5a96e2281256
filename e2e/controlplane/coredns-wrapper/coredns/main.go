// CoreDNS with only the plugins the e2e cluster's Corefile uses
// (e2e/nodes/manifests/coredns.yaml), plus log for debugging. CoreDNS's own main links all
// of its ~60 plugins, cloud DNS providers and tracers included; building those was the longest
// Go build of a cold CI run. A Corefile naming another plugin fails at start with CoreDNS's
// "Unknown directive" error, so a plugin missing here cannot go unnoticed.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// Every plugin compiled in, in CoreDNS's own order (core/dnsserver/zdirectives.go): a request
// passes them top to bottom. metadata, prometheus and transfer come in as dependencies of the
// ones above and cost nothing more, so a Corefile may name them too.
var directives = []string{
	"metadata", "reload", "ready", "health", "prometheus", "errors", "log", "cache", "transfer", "kubernetes",
}

func init() { dnsserver.Directives = directives }

func main() { coremain.Run() }
