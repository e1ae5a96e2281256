//! Hadoop configuration XML, read the way Hadoop's `Configuration` reads a resource, so an
//! `ozone-site.xml` written for a real Ozone cluster means the same here:
//! - `<property>` takes its name, value and finality from child elements (`<name>`, `<value>`,
//!   `<final>`) or from attributes (`<property name=".." value=".." final="true"/>`);
//! - a property without a name, or without a value, is skipped, not an error;
//! - once a property marked final is read, later definitions of it in the file are ignored
//!   (Hadoop: "an attempt to override final parameter ... Ignoring"); without `final` the last
//!   definition wins;
//! - names are trimmed, values kept as written;
//! - `<xi:include href="f.xml"/>` reads that file's `<configuration>` in place (a relative
//!   `href` from the including file's directory); a file that does not exist is an error
//!   unless the include holds an `<xi:fallback/>`, which then stands for nothing. Includes
//!   nest up to [`MAX_INCLUDE_DEPTH`] deep (Hadoop has no limit and overflows its stack on a
//!   cycle).
//!
//! `${var}` references are kept as written here and expanded when a key is read
//! ([`crate::hadoop_vars`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::Reader;

use crate::config::hadoop_trim;

/// One property as read: name (trimmed), value, and whether it was marked final.
#[derive(Debug, Default)]
struct Property {
    name: Option<String>,
    value: Option<String>,
    is_final: bool,
}

impl Property {
    /// The attribute form (`name`, `value`, `final`), also allowed on a `<property>` with
    /// children, whose elements then take precedence.
    fn from_attributes(e: &BytesStart<'_>) -> Result<Property, String> {
        let mut p = Property::default();
        for a in e.attributes() {
            let a = a.map_err(|e| e.to_string())?;
            let v = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
            match a.key.local_name().as_ref() {
                b"name" => p.name = Some(hadoop_trim(&v).to_string()),
                b"value" => p.value = Some(v),
                b"final" => p.is_final = hadoop_trim(&v) == "true",
                _ => {}
            }
        }
        Ok(p)
    }
}

/// How deep `xi:include`s may nest.
pub const MAX_INCLUDE_DEPTH: usize = 10;

/// The properties of `text` in file order, each name once: its final or its last value.
/// Relative `xi:include`s are read from `base_dir` (the current directory when `None`).
pub fn parse(text: &str, base_dir: Option<&Path>) -> Result<Vec<(String, String)>, String> {
    let mut r = Reading::default();
    r.document(text, base_dir, 0)?;
    Ok(r.props)
}

/// The properties read so far, over a file and the files it includes.
#[derive(Default)]
struct Reading {
    props: Vec<(String, String)>,
    finals: HashSet<String>,
}

/// An `xi:include` being read: its file was missing, and whether a fallback was seen.
struct Include {
    href: String,
    missing: bool,
    fallback: bool,
}

impl Reading {
    fn keep(&mut self, p: Property) {
        let (Some(name), Some(value)) = (p.name, p.value) else { return };
        if name.is_empty() || self.finals.contains(&name) {
            return;
        }
        match self.props.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.props.push((name.clone(), value)),
        }
        if p.is_final {
            self.finals.insert(name);
        }
    }

    /// Reads the file an `xi:include` names into this reading; `Ok(false)` if it does not
    /// exist.
    fn include(&mut self, href: &str, base_dir: Option<&Path>, depth: usize) -> Result<bool, String> {
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(format!("xi:include of {href}: includes nest deeper than {MAX_INCLUDE_DEPTH} (a cycle?)"));
        }
        let href_path = Path::new(href.strip_prefix("file:").unwrap_or(href));
        let path: PathBuf = match base_dir {
            Some(dir) if href_path.is_relative() => dir.join(href_path),
            _ => href_path.to_path_buf(),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(format!("xi:include of {}: {e}", path.display())),
        };
        self.document(&text, path.parent(), depth + 1).map_err(|e| format!("in {} (included): {e}", path.display()))?;
        Ok(true)
    }

    fn document(&mut self, text: &str, base_dir: Option<&Path>, depth: usize) -> Result<(), String> {
        let mut reader = Reader::from_str(text);
        reader.config_mut().trim_text(false);
        let mut stack: Vec<String> = Vec::new();
        let mut current: Option<Property> = None;
        let mut include: Option<Include> = None;
        let mut text_buf = String::new();
        let mut saw_root = false;
        loop {
            let pos = reader.buffer_position();
            let event = reader.read_event().map_err(|e| format!("at byte {pos}: {e}"))?;
            match event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let empty = matches!(event, Event::Empty(_));
                    let tag = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    if stack.is_empty() {
                        if tag != "configuration" {
                            return Err(format!("root element is <{tag}>, expected <configuration>"));
                        }
                        saw_root = true;
                    }
                    match (tag.as_str(), stack.last().map(String::as_str)) {
                        ("include", _) => {
                            let href = attribute(e, b"href")?
                                .ok_or_else(|| "xi:include without an href attribute".to_string())?;
                            let missing = !self.include(&href, base_dir, depth)?;
                            let inc = Include { href, missing, fallback: false };
                            if empty {
                                check_fallback(&inc)?;
                            } else {
                                include = Some(inc);
                            }
                        }
                        ("fallback", Some("include")) => {
                            if let Some(inc) = include.as_mut() {
                                inc.fallback = true;
                            }
                        }
                        // A fallback's properties stand in for a missing file only.
                        ("property", _) if in_unused_fallback(&include, &stack) => {}
                        ("property", _) if empty => self.keep(Property::from_attributes(e)?),
                        ("property", _) => current = Some(Property::from_attributes(e)?),
                        ("value", Some("property")) if empty => {
                            if let Some(p) = current.as_mut() {
                                p.value = Some(String::new());
                            }
                        }
                        _ => {}
                    }
                    text_buf.clear();
                    if !empty {
                        stack.push(tag);
                    }
                }
                Event::Text(t) => text_buf.push_str(&unescape(&t)?),
                Event::CData(t) => text_buf.push_str(&String::from_utf8_lossy(&t)),
                Event::End(e) => {
                    let tag = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    stack.pop();
                    let in_property = stack.last().map(String::as_str) == Some("property");
                    match (tag.as_str(), current.as_mut()) {
                        ("name", Some(p)) if in_property => p.name = Some(hadoop_trim(&text_buf).to_string()),
                        ("value", Some(p)) if in_property => p.value = Some(text_buf.clone()),
                        ("final", Some(p)) if in_property => p.is_final = hadoop_trim(&text_buf) == "true",
                        ("property", _) => {
                            if let Some(p) = current.take() {
                                self.keep(p);
                            }
                        }
                        ("include", _) => {
                            if let Some(inc) = include.take() {
                                check_fallback(&inc)?;
                            }
                        }
                        _ => {}
                    }
                    text_buf.clear();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !stack.is_empty() {
            return Err(format!("unexpected end of document inside <{}>", stack.join("><")));
        }
        if !saw_root {
            return Err("no <configuration> element".into());
        }
        Ok(())
    }
}

fn in_unused_fallback(include: &Option<Include>, stack: &[String]) -> bool {
    include.as_ref().is_some_and(|i| !i.missing) && stack.iter().any(|t| t == "fallback")
}

/// A missing included file is an error unless its include had an `xi:fallback` (Hadoop:
/// "Fetch fail on include ... with no fallback").
fn check_fallback(inc: &Include) -> Result<(), String> {
    if inc.missing && !inc.fallback {
        return Err(format!("xi:include of {}: no such file, and no xi:fallback", inc.href));
    }
    Ok(())
}

fn attribute(e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        if a.key.local_name().as_ref() == name {
            return Ok(Some(a.unescape_value().map_err(|e| e.to_string())?.into_owned()));
        }
    }
    Ok(None)
}

fn unescape(t: &BytesText<'_>) -> Result<String, String> {
    t.unescape().map(|c| c.into_owned()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(xml: &str) -> Vec<(String, String)> {
        parse(&format!("<configuration>{xml}</configuration>"), None).unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_property_without_a_name_or_value_is_skipped() {
        let got = props(
            "<property><value>orphan</value></property>\
             <property><name>no.value</name></property>\
             <property><name> </name><value>x</value></property>\
             <property><name>kept</name><value>1</value></property>",
        );
        assert_eq!(got, pairs(&[("kept", "1")]));
    }

    #[test]
    fn the_attribute_form_is_read() {
        let got = props(r#"<property name="a" value="1"/><property name=" b " value=" 2 "></property>"#);
        assert_eq!(got, pairs(&[("a", "1"), ("b", " 2 ")]));
    }

    #[test]
    fn a_final_property_keeps_its_first_value_and_others_their_last() {
        let got = props(
            "<property><name>f</name><value>first</value><final>true</final></property>\
             <property><name>f</name><value>second</value></property>\
             <property><name>n</name><value>first</value></property>\
             <property><name>n</name><value>second</value></property>\
             <property name=\"g\" value=\"1\" final=\"true\"/><property name=\"g\" value=\"2\"/>",
        );
        assert_eq!(got, pairs(&[("f", "first"), ("n", "second"), ("g", "1")]));
    }

    const XI: &str = r#"xmlns:xi="http://www.w3.org/2001/XInclude""#;

    #[test]
    fn xi_include_reads_the_file_in_place_relative_to_the_including_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let inner = "<configuration><property><name>b</name><value>inner</value><final>true</final></property>\
                     <property><name>c</name><value>inner</value></property></configuration>";
        std::fs::write(dir.path().join("sub/inner.xml"), inner).unwrap();
        let mid = r#"<configuration xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="inner.xml"/></configuration>"#;
        std::fs::write(dir.path().join("sub/mid.xml"), mid).unwrap();
        let xml = format!(
            "<configuration {XI}><property><name>a</name><value>outer</value></property>\
             <property><name>c</name><value>outer</value></property>\
             <xi:include href=\"sub/mid.xml\"/>\
             <property><name>b</name><value>outer, after</value></property></configuration>"
        );
        let got = parse(&xml, Some(dir.path())).unwrap();
        // c: the include comes later and wins; b: final inside the include, so the later
        // definition is ignored.
        assert_eq!(got, pairs(&[("a", "outer"), ("c", "inner"), ("b", "inner")]));
    }

    #[test]
    fn a_missing_include_is_an_error_unless_it_has_a_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let without = format!("<configuration {XI}><xi:include href=\"gone.xml\"/></configuration>");
        let e = parse(&without, Some(dir.path())).unwrap_err();
        assert!(e.contains("gone.xml") && e.contains("no xi:fallback"), "{e}");
        let with = format!(
            "<configuration {XI}><xi:include href=\"gone.xml\"><xi:fallback/></xi:include>\
             <property name=\"k\" value=\"v\"/></configuration>"
        );
        assert_eq!(parse(&with, Some(dir.path())).unwrap(), pairs(&[("k", "v")]));
        // A fallback's properties count when the file is missing, not when it is there.
        let fallback = |href: &str| {
            format!(
                "<configuration {XI}><xi:include href=\"{href}\"><xi:fallback>\
                 <property name=\"f\" value=\"fallback\"/></xi:fallback></xi:include></configuration>"
            )
        };
        assert_eq!(parse(&fallback("gone.xml"), Some(dir.path())).unwrap(), pairs(&[("f", "fallback")]));
        std::fs::write(
            dir.path().join("there.xml"),
            "<configuration><property name=\"t\" value=\"1\"/></configuration>",
        )
        .unwrap();
        assert_eq!(parse(&fallback("there.xml"), Some(dir.path())).unwrap(), pairs(&[("t", "1")]));
        let e = parse(&format!("<configuration {XI}><xi:include/></configuration>"), None).unwrap_err();
        assert!(e.contains("without an href"), "{e}");
    }

    #[test]
    fn an_include_cycle_or_a_broken_included_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let looped = format!("<configuration {XI}><xi:include href=\"self.xml\"/></configuration>");
        std::fs::write(dir.path().join("self.xml"), &looped).unwrap();
        let e = parse(&looped, Some(dir.path())).unwrap_err();
        assert!(e.contains("nest deeper than 10"), "{e}");
        std::fs::write(dir.path().join("bad.xml"), "<nope/>").unwrap();
        let e = parse(&format!("<configuration {XI}><xi:include href=\"bad.xml\"/></configuration>"), Some(dir.path()))
            .unwrap_err();
        assert!(e.contains("bad.xml (included)") && e.contains("root element is <nope>"), "{e}");
    }

    #[test]
    fn broken_documents_say_what_is_wrong() {
        assert!(parse("<nope/>", None).unwrap_err().contains("root element is <nope>"));
        assert!(parse("<configuration><property>", None).unwrap_err().contains("unexpected end"));
        assert!(parse("", None).unwrap_err().contains("no <configuration>"));
    }
}
