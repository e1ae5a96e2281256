// Command dockerfile-check parses Dockerfiles with BuildKit's own parser and linter (the code
// `docker build` runs), so a Dockerfile that cannot be built here, for want of a container
// engine, still fails CI on syntax errors, bad instruction flags, lint warnings and image
// references that do not parse.
//
// Usage: dockerfile-check DOCKERFILE...
// Prints one line per stage (name and base image) and exits 1 on any error or warning.
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

func check(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	ast, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	for _, w := range ast.Warnings {
		problems = append(problems, fmt.Sprintf("%s: %s", path, w.Short))
	}
	lint := linter.New(&linter.Config{
		ExperimentalAll: true,
		Warn: func(rule, description, url, msg string, location []parser.Range) {
			line := 0
			if len(location) > 0 {
				line = location[0].Start.Line
			}
			problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", path, line, rule, msg))
		},
	})
	stages, _, err := instructions.Parse(ast.AST, lint)
	if err != nil {
		return append(problems, fmt.Sprintf("%s: %v", path, err))
	}
	if len(stages) == 0 {
		return append(problems, fmt.Sprintf("%s: no stages", path))
	}
	named := map[string]bool{}
	for _, stage := range stages {
		if !named[stage.BaseName] {
			if _, err := name.ParseReference(stage.BaseName, name.StrictValidation); err != nil {
				problems = append(problems, fmt.Sprintf("%s: stage %q: base image %q: %v", path, stage.Name, stage.BaseName, err))
			}
		}
		if stage.Name != "" {
			named[stage.Name] = true
		}
		// Flags such as RUN --mount are only fully parsed when words are expanded.
		for _, cmd := range stage.Commands {
			if e, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
				if err := e.Expand(func(word string) (string, error) { return word, nil }); err != nil {
					problems = append(problems, fmt.Sprintf("%s:%d: %s: %v", path, lineOf(cmd), cmd.Name(), err))
				}
			}
		}
		fmt.Printf("%s: stage %q FROM %s (%d instructions)\n", path, stage.Name, stage.BaseName, len(stage.Commands))
	}
	return problems
}

func lineOf(cmd instructions.Command) int {
	if loc := cmd.Location(); len(loc) > 0 {
		return loc[0].Start.Line
	}
	return 0
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-check DOCKERFILE...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		for _, p := range check(path) {
			fmt.Fprintln(os.Stderr, p)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
