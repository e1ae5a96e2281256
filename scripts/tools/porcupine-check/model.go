package main

// The sequential specification the fault suite's histories are checked against.
//
// Every volume, bucket and key the traffic touches is one partition: an object that is absent
// or present with a value (a volume's or bucket's owner, a key's size). The Rust side projects
// each client operation onto the objects it touched (a rename onto its source and its target,
// a complete list onto every object in the listed range), so a history is linearizable only if
// every partition is.

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// Input is what a client asked of one object.
type Input struct {
	// create | put | get | delete | rename_from | rename_to
	Op    string  `json:"op"`
	Value *string `json:"value,omitempty"`
}

// Output is what the ring answered, as seen from that object.
type Output struct {
	// ok | found | not_found | exists | skipped | unknown
	Result string  `json:"result"`
	Value  *string `json:"value,omitempty"`
}

// State is one object: absent, or present with a value.
type State struct {
	Present bool
	Value   string
}

func present(v *string) State {
	if v == nil {
		return State{Present: true}
	}
	return State{Present: true, Value: *v}
}

// step returns whether an operation with this output may take effect in state s, and the state
// after it. An unknown outcome (the client gave up after sending) is linearized like a success
// when the operation could have succeeded; porcupine may also place it after every other
// operation, which covers the case where it never took effect.
func step(s State, in Input, out Output) (bool, State) {
	unknown := out.Result == "unknown"
	switch in.Op {
	case "create", "rename_to":
		if in.Op == "rename_to" && out.Result == "skipped" {
			// The rename failed at its source: nothing happened here.
			return true, s
		}
		if !s.Present && (out.Result == "ok" || unknown) {
			return true, present(in.Value)
		}
		if s.Present && (out.Result == "exists" || unknown) {
			return true, s
		}
		return false, s
	case "put":
		if s.Present && (out.Result == "ok" || unknown) {
			return true, present(in.Value)
		}
		if !s.Present && (out.Result == "not_found" || unknown) {
			return true, s
		}
		return false, s
	case "get":
		switch out.Result {
		case "found":
			return s.Present && out.Value != nil && s.Value == *out.Value, s
		case "not_found":
			return !s.Present, s
		case "unknown":
			return true, s
		}
		return false, s
	case "delete", "rename_from":
		if s.Present && (out.Result == "ok" || unknown) {
			return true, State{}
		}
		if !s.Present && (out.Result == "not_found" || unknown) {
			return true, s
		}
		return false, s
	}
	return false, s
}

// Op is one line of model-ops.jsonl.
type Op struct {
	Key    string `json:"key"`
	Client int    `json:"client"`
	Call   int64  `json:"call"`
	// Absent when the outcome is unknown: the operation may take effect at any later time.
	Return *int64 `json:"return"`
	Input  Input  `json:"input"`
	Output Output `json:"output"`
	// The client operation this was projected from, for the visualization.
	Desc string `json:"desc"`
}

func describe(v *string) string {
	if v == nil {
		return ""
	}
	return *v
}

// objectModel is the porcupine model over the projected operations, partitioned by object.
func objectModel() porcupine.Model {
	return porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var order []string
			for _, op := range history {
				key := op.Metadata.(Op).Key
				if _, seen := byKey[key]; !seen {
					order = append(order, key)
				}
				byKey[key] = append(byKey[key], op)
			}
			parts := make([][]porcupine.Operation, 0, len(order))
			for _, k := range order {
				parts = append(parts, byKey[k])
			}
			return parts
		},
		Init: func() interface{} { return State{} },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			return step(state.(State), input.(Input), output.(Output))
		},
		Equal: func(a, b interface{}) bool { return a.(State) == b.(State) },
		DescribeOperation: func(input, output interface{}) string {
			in, out := input.(Input), output.(Output)
			arg := describe(in.Value)
			res := out.Result
			if out.Value != nil {
				res = fmt.Sprintf("%s %s", res, *out.Value)
			}
			return fmt.Sprintf("%s(%s) -> %s", in.Op, arg, res)
		},
		DescribeState: func(state interface{}) string {
			s := state.(State)
			if !s.Present {
				return "absent"
			}
			return fmt.Sprintf("present %q", s.Value)
		},
		DescribeOperationMetadata: func(info interface{}) string {
			op := info.(Op)
			return fmt.Sprintf("%s: %s", op.Key, op.Desc)
		},
	}
}

// toPorcupine turns the projected operations into porcupine's form; unknown outcomes return
// after every known event.
func toPorcupine(ops []Op) []porcupine.Operation {
	var last int64
	for _, op := range ops {
		if op.Call > last {
			last = op.Call
		}
		if op.Return != nil && *op.Return > last {
			last = *op.Return
		}
	}
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		ret := last + 1
		if op.Return != nil {
			ret = *op.Return
		}
		out = append(out, porcupine.Operation{
			ClientId: op.Client,
			Input:    op.Input,
			Call:     op.Call,
			Output:   op.Output,
			Return:   ret,
			Metadata: op,
		})
	}
	return out
}
