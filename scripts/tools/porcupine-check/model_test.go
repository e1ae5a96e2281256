package main

import (
	"testing"
	"time"
)

func s(v string) *string { return &v }
func at(v int64) *int64  { return &v }

func op(key string, client int, call int64, ret *int64, in Input, out Output) Op {
	return Op{Key: key, Client: client, Call: call, Return: ret, Input: in, Output: out, Desc: "test"}
}

var (
	ok       = Output{Result: "ok"}
	notFound = Output{Result: "not_found"}
	exists   = Output{Result: "exists"}
	unknown  = Output{Result: "unknown"}
)

func found(v string) Output { return Output{Result: "found", Value: s(v)} }
func create(v string) Input { return Input{Op: "create", Value: s(v)} }
func put(v string) Input    { return Input{Op: "put", Value: s(v)} }

var get = Input{Op: "get"}
var del = Input{Op: "delete"}

// Each history is checked as written; the broken ones are the shapes the suite exists to catch.
func TestHistories(t *testing.T) {
	cases := []struct {
		name string
		ops  []Op
		want string
	}{
		{"sequential writes and reads", []Op{
			op("v", 0, 0, at(10), create("a"), ok),
			op("v", 0, 20, at(30), put("b"), ok),
			op("v", 1, 40, at(50), get, found("b")),
		}, "Ok"},
		{"stale read after an acknowledged write", []Op{
			op("v", 0, 0, at(10), create("a"), ok),
			op("v", 0, 20, at(30), put("b"), ok),
			op("v", 1, 40, at(50), get, found("a")),
		}, "Illegal"},
		{"read concurrent with a write may see either value", []Op{
			op("v", 0, 0, at(10), create("a"), ok),
			op("v", 0, 20, at(60), put("b"), ok),
			op("v", 1, 30, at(40), get, found("b")),
			op("v", 2, 30, at(40), get, found("a")),
		}, "Ok"},
		{"a value seen and then unseen", []Op{
			op("v", 0, 0, at(10), create("a"), ok),
			op("v", 0, 20, at(100), put("b"), ok),
			op("v", 1, 30, at(40), get, found("b")),
			op("v", 2, 50, at(60), get, found("a")),
		}, "Illegal"},
		{"lost acknowledged create", []Op{
			op("v", 0, 0, at(10), create("a"), ok),
			op("v", 1, 20, at(30), get, notFound),
		}, "Illegal"},
		{"undone acknowledged delete", []Op{
			op("v", 0, 0, at(10), create("a"), ok),
			op("v", 0, 20, at(30), del, ok),
			op("v", 1, 40, at(50), get, found("a")),
		}, "Illegal"},
		{"two creates both succeed", []Op{
			op("v", 0, 0, at(10), create("a"), ok),
			op("v", 1, 0, at(10), create("b"), ok),
		}, "Illegal"},
		{"racing creates, one wins", []Op{
			op("v", 0, 0, at(10), create("a"), ok),
			op("v", 1, 0, at(10), create("b"), exists),
			op("v", 2, 20, at(30), get, found("a")),
		}, "Ok"},
		{"unknown create may take effect late", []Op{
			op("v", 0, 0, nil, create("a"), unknown),
			op("v", 1, 20, at(30), get, notFound),
			op("v", 1, 40, at(50), get, found("a")),
		}, "Ok"},
		{"unknown create cannot be taken back", []Op{
			op("v", 0, 0, nil, create("a"), unknown),
			op("v", 1, 20, at(30), get, found("a")),
			op("v", 1, 40, at(50), get, notFound),
		}, "Illegal"},
		{"a value nobody wrote", []Op{
			op("v", 0, 0, at(10), create("a"), ok),
			op("v", 1, 20, at(30), get, found("z")),
		}, "Illegal"},
		{"rename moves the object", []Op{
			op("k1", 0, 0, at(10), create("7"), ok),
			op("k1", 0, 20, at(30), Input{Op: "rename_from"}, ok),
			op("k2", 0, 20, at(30), Input{Op: "rename_to", Value: s("7")}, ok),
			op("k1", 1, 40, at(50), get, notFound),
			op("k2", 1, 40, at(50), get, found("7")),
		}, "Ok"},
		{"renamed source still visible", []Op{
			op("k1", 0, 0, at(10), create("7"), ok),
			op("k1", 0, 20, at(30), Input{Op: "rename_from"}, ok),
			op("k1", 1, 40, at(50), get, found("7")),
		}, "Illegal"},
		{"partitions are checked apart", []Op{
			op("a", 0, 0, at(10), create("1"), ok),
			op("b", 1, 0, at(10), create("1"), ok),
			op("b", 2, 20, at(30), get, found("1")),
		}, "Ok"},
	}
	for _, c := range cases {
		v, _ := check(c.ops, 10*time.Second)
		if v.Result != c.want {
			t.Errorf("%s: got %s, want %s", c.name, v.Result, c.want)
		}
		if c.want == "Illegal" && len(v.Illegal) == 0 {
			t.Errorf("%s: no partition named", c.name)
		}
	}
}
