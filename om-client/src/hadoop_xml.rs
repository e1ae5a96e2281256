//! Hadoop configuration XML, read the way Hadoop's `Configuration` reads a resource, so an
//! `ozone-site.xml` written for a real Ozone cluster means the same here:
//! - `<property>` takes its name, value and finality from child elements (`<name>`, `<value>`,
//!   `<final>`) or from attributes (`<property name=".." value=".." final="true"/>`);
//! - a property without a name, or without a value, is skipped, not an error;
//! - once a property marked final is read, later definitions of it in the file are ignored
//!   (Hadoop: "an attempt to override final parameter ... Ignoring"); without `final` the last
//!   definition wins;
//! - names are trimmed, values kept as written.
//!
//! Not followed: `xi:include` is refused with an error naming it (its properties would
//! otherwise be missing silently). `${var}` references are kept as written here and expanded
//! when a key is read ([`crate::hadoop_vars`]).

use std::collections::HashSet;

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

/// The properties of `text` in file order, each name once: its final or its last value.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut props: Vec<(String, String)> = Vec::new();
    let mut finals: HashSet<String> = HashSet::new();
    let mut keep = |p: Property, props: &mut Vec<(String, String)>| {
        let (Some(name), Some(value)) = (p.name, p.value) else { return };
        if name.is_empty() || finals.contains(&name) {
            return;
        }
        match props.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => props.push((name.clone(), value)),
        }
        if p.is_final {
            finals.insert(name);
        }
    };
    let mut stack: Vec<String> = Vec::new();
    let mut current: Option<Property> = None;
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
                if tag == "include" {
                    return Err("xi:include is not supported: put the included file's properties in this file".into());
                }
                match (tag.as_str(), stack.last().map(String::as_str)) {
                    ("property", _) if empty => keep(Property::from_attributes(e)?, &mut props),
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
                            keep(p, &mut props);
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
    Ok(props)
}

fn unescape(t: &BytesText<'_>) -> Result<String, String> {
    t.unescape().map(|c| c.into_owned()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(xml: &str) -> Vec<(String, String)> {
        parse(&format!("<configuration>{xml}</configuration>")).unwrap()
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

    #[test]
    fn xi_include_is_refused_by_name() {
        let xml = r#"<configuration xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="other.xml"/></configuration>"#;
        assert!(parse(xml).unwrap_err().contains("xi:include"));
    }

    #[test]
    fn broken_documents_say_what_is_wrong() {
        assert!(parse("<nope/>").unwrap_err().contains("root element is <nope>"));
        assert!(parse("<configuration><property>").unwrap_err().contains("unexpected end"));
        assert!(parse("").unwrap_err().contains("no <configuration>"));
    }
}
