//! Just enough XML for XMPP stanzas: quick-xml reads top-level elements
//! into small trees; attribute values we write are escaped.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// An element: local name, attributes (local names), children, text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elem {
    /// Local name (`iq`, `presence`, `failure`, ...).
    pub name: String,
    /// Attributes by local name (`xmlns` kept as is).
    pub attrs: Vec<(String, String)>,
    /// Child elements.
    pub children: Vec<Elem>,
    /// Text content, joined.
    pub text: String,
}

impl Elem {
    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Elem> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Whether any descendant named `name` has `attr` = `value`.
    pub fn has(&self, name: &str, attr: &str, value: &str) -> bool {
        self.children
            .iter()
            .any(|c| (c.name == name && c.attr(attr) == Some(value)) || c.has(name, attr, value))
    }

    /// The first descendant named `name`, depth first.
    pub fn find(&self, name: &str) -> Option<&Elem> {
        self.children.iter().find_map(|c| {
            if c.name == name {
                Some(c)
            } else {
                c.find(name)
            }
        })
    }
}

fn start(e: &BytesStart<'_>) -> Result<Elem, String> {
    let mut elem = Elem {
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        ..Elem::default()
    };
    for attr in e.attributes() {
        let attr = attr.map_err(|err| err.to_string())?;
        let key = attr.key.as_ref();
        let key = if key.starts_with(b"xmlns") {
            String::from_utf8_lossy(key).into_owned()
        } else {
            String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned()
        };
        let value = attr.unescape_value().map_err(|err| err.to_string())?;
        elem.attrs.push((key, value.into_owned()));
    }
    Ok(elem)
}

/// The top-level elements of `text` (an XMPP frame, a BOSH body's content,
/// or a stream's worth of stanzas). An open `<stream:stream>` or BOSH
/// `<body>` wrapper is returned as an element holding what it contains.
pub fn parse(text: &str) -> Result<Vec<Elem>, String> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Elem> = Vec::new();
    let mut out = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| format!("not XML: {e}"))?;
        match event {
            Event::Start(e) => {
                if stack.len() > 64 {
                    return Err("XML nested too deep".into());
                }
                stack.push(start(&e)?);
            }
            Event::Empty(e) => {
                let elem = start(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(elem),
                    None => out.push(elem),
                }
            }
            Event::End(_) => {
                let Some(elem) = stack.pop() else {
                    return Err("an end tag without a start".into());
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(elem),
                    None => out.push(elem),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.unescape().map_err(|e| e.to_string())?);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // A stream header that stays open (`<stream:stream>` over TCP) holds
    // what arrived so far.
    while let Some(elem) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent.children.push(elem),
            None => out.push(elem),
        }
    }
    Ok(out)
}

/// `text` escaped for an attribute value or text node.
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_parse_into_trees() {
        let els = parse(
            "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>\
             <text xml:lang='en'>sub claim is missing</text></failure>\
             <iq type='result' id='b'><bind><jid>a@b/c</jid></bind></iq>",
        )
        .unwrap();
        assert_eq!(els.len(), 2);
        assert_eq!(els[0].children[0].name, "not-authorized");
        assert_eq!(els[0].child("text").unwrap().text, "sub claim is missing");
        assert_eq!(els[1].find("jid").unwrap().text, "a@b/c");
        assert_eq!(els[1].attr("id"), Some("b"));
        let body = parse("<body xmlns='http://jabber.org/protocol/httpbind' sid='s1'><success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></body>").unwrap();
        assert_eq!(body[0].attr("sid"), Some("s1"));
        assert_eq!(body[0].children[0].name, "success");
        assert!(parse("<a><b></a>").is_err());
        assert_eq!(escape("a'b<c&"), "a&apos;b&lt;c&amp;");
    }
}
