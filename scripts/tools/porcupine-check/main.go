// omring-porcupine checks a fault-suite history for linearizability with porcupine.
//
//	omring-porcupine -ops model-ops.jsonl [-html porcupine.html] [-timeout 120s]
//
// It prints one JSON line with the verdict and exits 0 when the history is linearizable, 1 when
// it is not (the HTML view then shows the partitions that are not), 2 on bad input and 3 when
// the check ran out of time.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the line printed on stdout.
type Verdict struct {
	Result     string   `json:"result"`
	Ops        int      `json:"ops"`
	Partitions int      `json:"partitions"`
	Unknown    int      `json:"unknown_outcomes"`
	Illegal    []string `json:"illegal_partitions,omitempty"`
	Error      string   `json:"error,omitempty"`
	Seconds    float64  `json:"seconds"`
}

func readOps(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ops []Op
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var op Op
		if err := json.Unmarshal(sc.Bytes(), &op); err != nil {
			return nil, fmt.Errorf("%s line %d: %v", path, line, err)
		}
		if op.Key == "" {
			return nil, fmt.Errorf("%s line %d: operation without a key", path, line)
		}
		if op.Return != nil && *op.Return < op.Call {
			return nil, fmt.Errorf("%s line %d: returns (%d) before its call (%d)", path, line, *op.Return, op.Call)
		}
		ops = append(ops, op)
	}
	return ops, sc.Err()
}

// check runs porcupine over the whole history, and again over each partition on its own when
// the whole is not linearizable, to name the objects whose histories are not.
func check(ops []Op, timeout time.Duration) (Verdict, []porcupine.Operation) {
	model := objectModel()
	history := toPorcupine(ops)
	v := Verdict{Ops: len(ops), Partitions: len(model.Partition(history))}
	for _, op := range ops {
		if op.Return == nil {
			v.Unknown++
		}
	}
	res, _ := porcupine.CheckOperationsVerbose(model, history, timeout)
	v.Result = string(res)
	if res != porcupine.Illegal {
		return v, nil
	}
	var bad []porcupine.Operation
	for _, part := range model.Partition(history) {
		if porcupine.CheckOperationsTimeout(model, part, timeout) == porcupine.Illegal {
			v.Illegal = append(v.Illegal, part[0].Metadata.(Op).Key)
			bad = append(bad, part...)
		}
	}
	sort.Strings(v.Illegal)
	return v, bad
}

func main() {
	opsPath := flag.String("ops", "", "model operations, one JSON object a line")
	htmlPath := flag.String("html", "", "where to write porcupine's view of the partitions that are not linearizable")
	timeout := flag.Duration("timeout", 120*time.Second, "give up (result unknown) after this long")
	flag.Parse()
	out := json.NewEncoder(os.Stdout)
	if *opsPath == "" {
		fmt.Fprintln(os.Stderr, "usage: omring-porcupine -ops FILE [-html FILE] [-timeout D]")
		os.Exit(2)
	}
	started := time.Now()
	ops, err := readOps(*opsPath)
	if err != nil {
		_ = out.Encode(Verdict{Result: "error", Error: err.Error()})
		os.Exit(2)
	}
	v, bad := check(ops, *timeout)
	if len(bad) > 0 && *htmlPath != "" {
		model := objectModel()
		_, info := porcupine.CheckOperationsVerbose(model, bad, *timeout)
		if err := porcupine.VisualizePath(model, info, *htmlPath); err != nil {
			v.Error = fmt.Sprintf("writing %s: %v", *htmlPath, err)
		}
	}
	v.Seconds = time.Since(started).Seconds()
	_ = out.Encode(v)
	switch porcupine.CheckResult(v.Result) {
	case porcupine.Ok:
		os.Exit(0)
	case porcupine.Illegal:
		os.Exit(1)
	default:
		os.Exit(3)
	}
}
