//! JSON as Ozone's CLI prints it: Jackson's default pretty printer
//! (`JsonUtils.toJsonStringWithDefaultPrettyPrinter`), so a script that compares or greps
//! Ozone's output sees the same text from omring.
//!
//! Jackson's layout: objects open a line per entry, indented two spaces per object level, with
//! `"key" : value`; arrays stay on the line (`[ a, b ]`, objects in them as `[ {` ... `}, {`);
//! empty containers are `{ }` and `[ ]`. Built on serde_json's [`Formatter`], which keeps
//! string escaping and number formatting serde_json's.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

/// Writes JSON in Jackson's default pretty layout.
#[derive(Default)]
struct JacksonPretty {
    /// Object nesting (arrays do not indent).
    objects: usize,
    /// For each open container, whether it holds a value yet.
    has_value: Vec<bool>,
}

impl JacksonPretty {
    fn indent<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..self.objects {
            w.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl Formatter for JacksonPretty {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.has_value.push(false);
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.has_value.pop();
        w.write_all(b" ]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if let Some(h) = self.has_value.last_mut() {
            *h = true;
        }
        w.write_all(if first { b" " } else { b", " })
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.objects += 1;
        self.has_value.push(false);
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.objects -= 1;
        if self.has_value.pop() == Some(true) {
            self.indent(w)?;
            w.write_all(b"}")
        } else {
            w.write_all(b" }")
        }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if let Some(h) = self.has_value.last_mut() {
            *h = true;
        }
        if !first {
            w.write_all(b",")?;
        }
        self.indent(w)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b" : ")
    }
}

/// `value` as Jackson's default pretty printer writes it (no trailing newline).
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, JacksonPretty::default());
    // Our own plain values (maps with string keys, numbers, strings) always serialize.
    if value.serialize(&mut ser).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layout_is_jacksons() {
        let v = json!([{"om1": {"hostname": "h1", "serverRole": "LEADER"}}, {"om2": {}}]);
        assert_eq!(
            to_string(&v),
            "[ {\n  \"om1\" : {\n    \"hostname\" : \"h1\",\n    \"serverRole\" : \"LEADER\"\n  }\n}, {\n  \"om2\" : { }\n} ]"
        );
        assert_eq!(to_string(&json!([])), "[ ]");
        assert_eq!(to_string(&json!({"a": [1, 2], "b": {}})), "{\n  \"a\" : [ 1, 2 ],\n  \"b\" : { }\n}");
    }
}
