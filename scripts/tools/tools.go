//go:build tools

// Package tools records the commands built from this module, so `go mod tidy` keeps them.
package tools

import (
	_ "github.com/google/go-containerregistry/cmd/crane"
	_ "github.com/yannh/kubeconform/cmd/kubeconform"
)
