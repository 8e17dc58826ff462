//! The JWKS at `cache_keys_url`, read as the token plugin (from 2025-11)
//! reads it, and counted whatever its size.
//!
//! A JWKS of 10,000 keys is 4 MB, and the size is what `doctor` must talk
//! about (every key costs Prosody ~2.5 ms of Lua at each refresh), so the
//! body is not read into memory first: it is parsed as it arrives, every
//! entry with a `kid` is counted, and only the keys a caller asks for are
//! kept. Reading stops at [`MAX_JWKS`], far above anything Prosody can use
//! ([`PROSODY_MAX_BODY`]), and a body over it is its own finding
//! ([`TooLarge`]), never "cannot fetch".

use super::FoundKey;
use crate::check::fetch;
use crate::keys::{self, KeyForm};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::HashMap;
use std::io::Read;

/// Most of a JWKS read: 64 MiB, six times what Prosody's HTTP client takes
/// ([`PROSODY_MAX_BODY`]), so any JWKS a key server could mean to serve is
/// counted; past it, reading stops.
pub const MAX_JWKS: u64 = 64 * 1024 * 1024;

/// The largest body Prosody's HTTP client (`net.http`, 0.12 and 13) takes:
/// its parser's default `body_size_limit` is 10 MiB, and the token plugin
/// sets none, so a JWKS sent with a larger `Content-Length` fails with
/// "content-length-limit-exceeded" (a chunked one over twice that is cut
/// off and is no JSON): the refresh fails, and Prosody tries again in 30 s.
pub const PROSODY_MAX_BODY: u64 = 10 * 1024 * 1024;

/// The keys a JWKS at `cache_keys_url` holds, read as the token plugin (from
/// 2025-11) reads it: every entry of `keys[]` with a `kid`; RSA `n`/`e` make
/// the key, other members are ignored.
#[derive(Debug, Clone)]
pub struct Jwks {
    /// The URL read.
    pub url: String,
    /// kid → the key, or why that entry is no RSA key: the entries the
    /// reader was asked to keep ([`read_jwks`]), in document order.
    pub keys: Vec<(String, Result<FoundKey, String>)>,
    /// Every entry with a `kid`, kept or not: what Prosody turns into keys.
    pub count: usize,
    /// The response's `Cache-Control`, which times Prosody's refresh.
    pub cache_control: Option<String>,
    /// Its size in bytes.
    pub bytes: u64,
    /// kid → its first place in `keys`.
    index: HashMap<String, usize>,
}

impl Jwks {
    /// The entry for `kid`, if it was kept.
    pub fn get(&self, kid: &str) -> Option<&Result<FoundKey, String>> {
        self.index.get(kid).map(|&i| &self.keys[i].1)
    }
}

/// Why a `cache_keys_url` cannot be used: what is wrong, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksProblem {
    /// What is wrong, in words.
    pub why: String,
    /// What to do.
    pub fix: String,
    /// Set when the JWKS is over [`MAX_JWKS`]: a size problem, not an
    /// unreachable server.
    pub too_large: Option<TooLarge>,
}

/// A JWKS larger than [`MAX_JWKS`]: how far it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// The cap, in bytes.
    pub cap: u64,
    /// Its `Content-Length`, when the server sent one (nothing is read then).
    pub content_length: Option<u64>,
    /// Entries with a `kid` read before the cap.
    pub keys_read: usize,
}

/// GETs and reads the JWKS at `url` as Prosody would (one attempt, no
/// redirects, 200 only), keeping the keys whose kid `keep` wants and
/// counting the rest: what is held stays the size of what is compared,
/// whatever the server sends.
pub fn read_jwks(
    url: &str,
    options: &fetch::Options,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Jwks, JwksProblem> {
    let problem = |why: String, fix: &str| JwksProblem {
        why,
        fix: fix.to_owned(),
        too_large: None,
    };
    let unreachable = |e: fetch::FetchError| {
        problem(
            format!("cannot fetch it: {e}"),
            "make cache_keys_url reachable from the Prosody host (asap-keyserver serve answers /.well-known/jwks.json)",
        )
    };
    let mut r = fetch::open(url, options).map_err(unreachable)?;
    if (300..400).contains(&r.status) {
        return Err(problem(
            format!(
                "HTTP {} redirect to {}: Prosody does not follow redirects",
                r.status,
                r.location.as_deref().unwrap_or("?")
            ),
            "set cache_keys_url to the final URL",
        ));
    }
    if r.status != 200 {
        return Err(problem(
            format!("HTTP {}: Prosody needs 200", r.status),
            "point cache_keys_url at the JWKS, e.g. https://keys.example.com/.well-known/jwks.json",
        ));
    }
    let too_large = |content_length, keys_read| {
        let found = TooLarge {
            cap: MAX_JWKS,
            content_length,
            keys_read,
        };
        JwksProblem {
            why: found.why(),
            fix: "serve a bounded JWKS: cache_keys_url = \"<key server>/.well-known/jwks.json?newest=2\" \
                (the newest 2 keys of each issuer)"
                .to_owned(),
            too_large: Some(found),
        }
    };
    if let Some(length) = r.content_length.filter(|&l| l > MAX_JWKS) {
        return Err(too_large(Some(length), 0));
    }
    let mut entries = Entries {
        keep,
        keys: Vec::new(),
        index: HashMap::new(),
        count: 0,
    };
    let (parsed, bytes, over) = {
        let mut body = std::io::BufReader::with_capacity(
            64 * 1024,
            Capped {
                inner: r.reader(),
                read: 0,
                cap: MAX_JWKS,
                over: false,
            },
        );
        let mut de = serde_json::Deserializer::from_reader(&mut body);
        let mut has_keys = false;
        let parsed = Document {
            entries: &mut entries,
            has_keys: &mut has_keys,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map(|()| has_keys);
        let capped = body.get_ref();
        (parsed, capped.read, capped.over)
    };
    if over {
        return Err(too_large(None, entries.count));
    }
    match parsed {
        Ok(true) => {}
        Ok(false) => {
            return Err(problem(
                "JSON without a \"keys\" array: not a JWKS".into(),
                "point cache_keys_url at a JWKS ({\"keys\":[...]})",
            ))
        }
        Err(e) => {
            use serde_json::error::Category;
            return Err(match e.classify() {
                Category::Io => unreachable(r.error(e.into())),
                Category::Data => problem(
                    format!("JSON, but not a JWKS ({e})"),
                    "point cache_keys_url at a JWKS ({\"keys\":[...]})",
                ),
                Category::Syntax | Category::Eof => problem(
                    format!("not JSON ({e})"),
                    "point cache_keys_url at a JWKS ({\"keys\":[...]}), e.g. asap-keyserver's /.well-known/jwks.json",
                ),
            });
        }
    }
    Ok(Jwks {
        url: url.to_owned(),
        keys: entries.keys,
        count: entries.count,
        cache_control: r.cache_control,
        bytes,
        index: entries.index,
    })
}

impl TooLarge {
    /// What was seen, and what Prosody makes of such a JWKS, in words.
    pub fn why(&self) -> String {
        let t = self;
        let mib = t.cap / (1024 * 1024);
        let seen = match t.content_length {
            Some(length) => format!("its Content-Length is {length} bytes, over {mib} MiB"),
            None => format!(
                "it is larger than {mib} MiB ({} key(s) in the first {mib} MiB, and more after)",
                t.keys_read
            ),
        };
        format!(
        "{seen}: Prosody's HTTP client takes at most {} MiB, so this JWKS never reaches the token plugin \
            (each refresh fails and is tried again in 30 s)",
        PROSODY_MAX_BODY / (1024 * 1024)
    )
    }
}

/// The body reader, stopped past `cap` bytes.
struct Capped<R> {
    inner: R,
    read: u64,
    cap: u64,
    over: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            self.over = true;
            return Err(std::io::Error::other("the JWKS is over the size cap"));
        }
        Ok(n)
    }
}

/// Where the entries of `keys[]` go as they are parsed.
struct Entries<'k> {
    keep: &'k dyn Fn(&str) -> bool,
    keys: Vec<(String, Result<FoundKey, String>)>,
    index: HashMap<String, usize>,
    count: usize,
}

impl Entries<'_> {
    /// Counts one entry of `keys[]` with a string `kid`, and keeps its key if asked.
    fn add(&mut self, entry: Entry) {
        let Some(kid) = entry.kid else {
            return;
        };
        self.count += 1;
        if !(self.keep)(&kid) {
            return;
        }
        let key = match (entry.kty.as_deref(), entry.n, entry.e) {
            (Some("RSA"), Some(n), Some(e)) => keys::jwk_components(&n, &e)
                .map(|(n, e, bits)| FoundKey {
                    form: KeyForm::Jwk,
                    n,
                    e,
                    bits,
                })
                .map_err(|e| e.to_string()),
            (kty, _, _) => Err(format!(
                "not an RSA key with n and e (kty {})",
                kty.unwrap_or("missing")
            )),
        };
        self.index.entry(kid.clone()).or_insert(self.keys.len());
        self.keys.push((kid, key));
    }
}

/// What the token plugin reads of an entry of `keys[]`: its string members
/// `kid`, `kty`, `n` and `e`. Every other member, a member of another
/// type, and an entry that is no object are skipped as they are parsed,
/// never built into a value (a hostile JWKS may hold millions of entries).
#[derive(Default)]
struct Entry {
    kid: Option<String>,
    kty: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// The members of an entry the token plugin reads.
#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Member {
    Kid,
    Kty,
    N,
    E,
    #[serde(other)]
    Other,
}

impl<'de> serde::Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Entry, D::Error> {
        d.deserialize_any(Skipping(Entry::default, EntryMembers))
    }
}

/// A JSON value read for its text only: `None` for any other value.
struct Text(Option<String>);

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        d.deserialize_any(Skipping(|| Text(None), TextValue))
    }
}

/// Reads an entry's members.
struct EntryMembers;
/// Reads a string.
struct TextValue;

/// A visitor that reads what `R` reads (an object for [`Entry`], a string
/// for [`Text`]) and skips any other JSON value, giving `empty()`.
struct Skipping<F, R>(F, R);

/// What [`Skipping`] does with the one JSON type it reads.
trait Reads<'de, T> {
    fn map<A: MapAccess<'de>>(self, _map: A, empty: T) -> Result<T, A::Error>;
    fn text(self, _text: &str, empty: T) -> T;
}

impl<'de> Reads<'de, Entry> for EntryMembers {
    fn map<A: MapAccess<'de>>(self, mut map: A, mut entry: Entry) -> Result<Entry, A::Error> {
        while let Some(member) = map.next_key::<Member>()? {
            let slot = match member {
                Member::Kid => &mut entry.kid,
                Member::Kty => &mut entry.kty,
                Member::N => &mut entry.n,
                Member::E => &mut entry.e,
                Member::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value::<Text>()?.0;
        }
        Ok(entry)
    }
    fn text(self, _text: &str, empty: Entry) -> Entry {
        empty
    }
}

impl<'de> Reads<'de, Text> for TextValue {
    fn map<A: MapAccess<'de>>(self, mut map: A, empty: Text) -> Result<Text, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(empty)
    }
    fn text(self, text: &str, _empty: Text) -> Text {
        Text(Some(text.to_owned()))
    }
}

impl<'de, T, F: FnOnce() -> T, R: Reads<'de, T>> Visitor<'de> for Skipping<F, R> {
    type Value = T;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        self.1.map(map, (self.0)())
    }
    fn visit_str<E>(self, v: &str) -> Result<T, E> {
        Ok(self.1.text(v, (self.0)()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok((self.0)())
    }
    fn visit_bool<E>(self, _: bool) -> Result<T, E> {
        Ok((self.0)())
    }
    fn visit_i64<E>(self, _: i64) -> Result<T, E> {
        Ok((self.0)())
    }
    fn visit_u64<E>(self, _: u64) -> Result<T, E> {
        Ok((self.0)())
    }
    fn visit_f64<E>(self, _: f64) -> Result<T, E> {
        Ok((self.0)())
    }
    fn visit_unit<E>(self) -> Result<T, E> {
        Ok((self.0)())
    }
}

/// The top-level object: `keys` is read entry by entry, every other member
/// skipped without being held.
struct Document<'a, 'k> {
    entries: &'a mut Entries<'k>,
    has_keys: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for Document<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JWKS object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            if name == "keys" && !*self.has_keys {
                map.next_value_seed(KeysArray(self.entries))?;
                *self.has_keys = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// `keys[]`: one entry at a time, each dropped once counted (and kept if asked).
struct KeysArray<'a, 'k>(&'a mut Entries<'k>);

impl<'de> DeserializeSeed<'de> for KeysArray<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for KeysArray<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a \"keys\" array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<Entry>()? {
            self.0.add(entry);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader, Write as _};

    /// Serves `head` then `body` once on 127.0.0.1, and its URL.
    fn serve_once(head: String, body: Vec<u8>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        });
        url
    }

    fn ok(body: &str) -> String {
        serve_once(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nCache-Control: max-age=60\r\n\r\n",
                body.len()
            ),
            body.as_bytes().to_vec(),
        )
    }

    #[test]
    fn entries_are_counted_and_only_the_wanted_ones_kept() {
        let body = concat!(
            r#"{"other":{"deep":[1,2,{"x":"y"}]},"#,
            r#""keys":[{"kid":"a","kty":"EC"},{"kty":"RSA"},{"kid":"b"},7,[{"kid":"d"}],{"kid":5,"n":{"kid":"e"}},null,{"kid":"c"}]}"#
        );
        let jwks = read_jwks(&ok(body), &fetch::Options::default(), &|k| k == "b").unwrap();
        assert_eq!(jwks.count, 3, "entries with a kid");
        assert_eq!(jwks.keys.len(), 1);
        assert!(jwks.get("b").is_some_and(Result::is_err));
        assert!(jwks.get("a").is_none());
        assert_eq!(jwks.bytes, body.len() as u64);
        assert_eq!(jwks.cache_control.as_deref(), Some("max-age=60"));
        let all = read_jwks(&ok(body), &fetch::Options::default(), &|_| true).unwrap();
        assert_eq!(all.keys.len(), 3);
        assert!(all
            .get("a")
            .is_some_and(|k| k.as_ref().unwrap_err().contains("kty EC")));
    }

    #[test]
    fn what_is_not_a_jwks_is_named() {
        for (body, says) in [
            ("", "not JSON"),
            ("{\"keys\":[", "not JSON"),
            ("{\"keys\":[]} x", "not JSON"),
            ("[1]", "JSON, but not a JWKS"),
            ("{\"keys\":{}}", "JSON, but not a JWKS"),
            ("{\"other\":[]}", "JSON without a \"keys\" array"),
        ] {
            let e = read_jwks(&ok(body), &fetch::Options::default(), &|_| true).unwrap_err();
            assert!(e.why.starts_with(says), "{body:?}: {e:?}");
            assert_eq!(e.too_large, None);
        }
    }

    #[test]
    fn a_content_length_over_the_cap_is_refused_unread() {
        let url = serve_once(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                MAX_JWKS + 1
            ),
            b"{\"keys\":[".to_vec(),
        );
        let e = read_jwks(&url, &fetch::Options::default(), &|_| true).unwrap_err();
        assert_eq!(
            e.too_large,
            Some(TooLarge {
                cap: MAX_JWKS,
                content_length: Some(MAX_JWKS + 1),
                keys_read: 0
            })
        );
        assert!(
            e.why.contains("over 64 MiB") && e.why.contains("at most 10 MiB"),
            "{}",
            e.why
        );
        assert!(!e.fix.contains("reachable"), "{}", e.fix);
    }
}
