//! Key ids: the rules a kid must follow, how a file path becomes a kid, how
//! a kid becomes the URL path Prosody requests (and that path the kid's
//! hash again), and which kids the server's own routes would shadow.
//!
//! Prosody's token plugin hashes the raw kid bytes with SHA-256 and asks for
//! `<asap_key_server>/<lowercase hex>.pem`. The kid itself follows ASAP's
//! rules so the same directory can later be served in the ASAP `/<kid>` layout.

use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};

/// Why a string is not an acceptable kid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KidError {
    /// The kid is the empty string.
    #[error("the kid is empty")]
    Empty,
    /// The kid starts with `/`.
    #[error("a kid may not start with '/'")]
    LeadingSlash,
    /// The kid has a character outside `[A-Za-z0-9_.+/-]`.
    #[error("character {0:?} is not allowed in a kid (allowed: A-Z a-z 0-9 _ . + / -)")]
    BadChar(char),
    /// A `/`-separated segment is `.` or `..`.
    #[error("a kid may not have a '{0}' segment")]
    DotSegment(&'static str),
    /// Two slashes in a row, or a trailing slash.
    #[error("a kid may not have an empty segment ('//' or a trailing '/')")]
    EmptySegment,
    /// A path component is not valid UTF-8.
    #[error("the file name is not valid UTF-8")]
    NotUtf8,
    /// An issuer with more than one segment.
    #[error("an issuer is one kid segment, without '/'")]
    IssuerSegment,
    /// A segment starting with `.`: the key directory's walk skips hidden
    /// files and folders (editors', Kubernetes' `..data`, our own staging).
    #[error("segment {0:?} starts with '.': serve skips hidden files and folders, so this key would never be served")]
    Hidden(String),
    /// More segments than [`MAX_DEPTH`]: the file would sit in a folder
    /// the walk does not enter.
    #[error("{0} segments put the file in a folder {MAX_DEPTH} or more levels below the key directory, \
        whose keys serve does not read: use at most {MAX_DEPTH} segments")]
    TooDeep(usize),
    /// One of the server's own paths, or a Prosody `<sha256>.pem` path:
    /// why, as `serve` says it when it skips such a file.
    #[error("{0}, so serve refuses this kid: pick another")]
    Shadowed(String),
}

/// How many `/`-separated segments a served kid has at most: `serve` reads
/// no key in a folder [`MAX_DEPTH`] or more levels below the key directory
/// (the top level being 0), so the deepest key sits at level
/// `MAX_DEPTH - 1`, its kid `MAX_DEPTH` segments long.
pub const MAX_DEPTH: usize = 32;

/// Checks `kid` against ASAP's rules: `[A-Za-z0-9_.+/-]`, not empty, no
/// leading `/`, no empty, `.` or `..` segments.
///
/// ```
/// use asap_keyserver::kid::{validate, KidError};
/// assert_eq!(validate("jitsi/2026-11-27"), Ok(()));
/// assert_eq!(validate("jitsi/../x"), Err(KidError::DotSegment("..")));
/// assert_eq!(validate("my key"), Err(KidError::BadChar(' ')));
/// ```
pub fn validate(kid: &str) -> Result<(), KidError> {
    if kid.is_empty() {
        return Err(KidError::Empty);
    }
    if kid.starts_with('/') {
        return Err(KidError::LeadingSlash);
    }
    if let Some(c) = kid
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '/' | '-')))
    {
        return Err(KidError::BadChar(c));
    }
    for segment in kid.split('/') {
        match segment {
            "" => return Err(KidError::EmptySegment),
            "." => return Err(KidError::DotSegment(".")),
            ".." => return Err(KidError::DotSegment("..")),
            _ => {}
        }
    }
    Ok(())
}

/// The kid for a file at `relative` (a path under the key directory, ending
/// in `.pem`): its components joined with `/`, minus the `.pem` suffix.
/// Returns `None` when the name does not end in `.pem`.
pub fn from_relative_path(relative: &Path) -> Option<Result<String, KidError>> {
    let mut kid = String::new();
    for component in relative.components() {
        let Component::Normal(part) = component else {
            return Some(Err(KidError::DotSegment("..")));
        };
        let Some(part) = part.to_str() else {
            return Some(Err(KidError::NotUtf8));
        };
        if !kid.is_empty() {
            kid.push('/');
        }
        kid.push_str(part);
    }
    let kid = kid.strip_suffix(".pem")?.to_owned();
    Some(validate(&kid).map(|()| kid))
}

/// Lowercase hex SHA-256 of the raw kid bytes, as Prosody computes it
/// (the same as `printf %s "$kid" | sha256sum`).
///
/// ```
/// assert_eq!(
///     asap_keyserver::kid::sha256_hex("jitsi/2026-11-27"),
///     "a4af01cdafd502160c64949f2c9820d9e4be42c5fcd55ecfb82f3fd0d67352fc"
/// );
/// ```
pub fn sha256_hex(kid: &str) -> String {
    hex::encode(sha256(kid))
}

/// SHA-256 of the raw kid bytes: what Prosody's path is made of.
pub fn sha256(kid: &str) -> [u8; 32] {
    Sha256::digest(kid.as_bytes()).into()
}

/// The path, without a leading slash, at which Prosody fetches `kid`:
/// `<sha256 hex>.pem`.
///
/// ```
/// let path = asap_keyserver::kid::prosody_path("jitsi/2026-11-27");
/// assert_eq!(path.len(), 64 + 4);
/// assert!(path.ends_with(".pem"));
/// ```
pub fn prosody_path(kid: &str) -> String {
    hash_path(&sha256(kid))
}

/// The Prosody path of the kid whose [`sha256`] is `hash`: `<hex>.pem`,
/// without a leading slash (for a kid hashed once and kept).
pub fn hash_path(hash: &[u8; 32]) -> String {
    let mut path = hex::encode(hash);
    path.push_str(".pem");
    path
}

/// The hex in `path` if it has the shape of a Prosody key path: 64
/// lowercase hex digits, then `.pem`.
fn prosody_hex(path: &str) -> Option<&str> {
    let hex = path.strip_suffix(".pem")?;
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(hex)
}

/// The kid hash a Prosody key path names (the inverse of [`prosody_path`]),
/// if `path` has that shape.
///
/// ```
/// use asap_keyserver::kid::{prosody_hash, prosody_path, sha256};
/// assert_eq!(prosody_hash(&prosody_path("jitsi/k")), Some(sha256("jitsi/k")));
/// assert_eq!(prosody_hash("jitsi/k.pem"), None);
/// ```
pub fn prosody_hash(path: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(prosody_hex(path)?, &mut out).ok()?;
    Some(out)
}

/// Why `kid` cannot be served at its ASAP route `/<kid>`, if it cannot:
/// it is one of the server's own paths (`routes`: from the route table,
/// `routes::Routes::reserved_kids`), ends in one of the `documents` also served under every
/// folder (the JWKS paths), or looks like a Prosody `<sha256>.pem` path
/// and would answer for another kid.
pub fn shadowed(kid: &str, routes: &[String], documents: &[String]) -> Option<String> {
    if let Some(r) = routes.iter().find(|r| *r == kid) {
        return Some(format!("/{r} is a route of the server itself"));
    }
    // `/<folder>/<jwks path>` is the JWKS of the folder's keys.
    if let Some(r) = documents.iter().find(|r| {
        kid.strip_suffix(r.as_str())
            .is_some_and(|folder| folder.ends_with('/'))
    }) {
        return Some(format!(
            "/{kid} is the path of the JWKS of the keys under {}/",
            kid.strip_suffix(r.as_str())
                .unwrap_or_default()
                .trim_end_matches('/')
        ));
    }
    let hex = prosody_hex(kid)?;
    Some(format!(
        "/{kid} is the path Prosody requests for the kid hashing to {hex}"
    ))
}

/// Whether `serve` would serve a key of this kid, the one rule the scanner
/// applies to a file's kid and `keygen`, `rotate` and `mint --kid` apply
/// before anything is written or signed: the ASAP rules ([`validate`]), no
/// hidden segment, at most [`MAX_DEPTH`] segments, and not one of the
/// server's paths ([`shadowed`] with `routes` and `documents`).
pub fn servable(kid: &str, routes: &[String], documents: &[String]) -> Result<(), KidError> {
    validate(kid)?;
    if let Some(hidden) = kid.split('/').find(|s| s.starts_with('.')) {
        return Err(KidError::Hidden(hidden.to_owned()));
    }
    let segments = kid.split('/').count();
    if segments > MAX_DEPTH {
        return Err(KidError::TooDeep(segments));
    }
    match shadowed(kid, routes, documents) {
        Some(why) => Err(KidError::Shadowed(why)),
        None => Ok(()),
    }
}

/// [`servable`] by any `serve`: not at one of the route table's paths
/// (`routes::every_reserved_kid`: the token service's too), whether
/// `--config` is given or not, so that a new key works whatever flags
/// `serve` runs with (a custom `--jwks-path` is the one path this cannot know).
pub fn servable_anywhere(kid: &str) -> Result<(), KidError> {
    let routes = crate::routes::Routes::default();
    servable(
        kid,
        &crate::routes::every_reserved_kid(),
        &routes.documents(),
    )
}

/// The first `/`-separated segment of a kid: the issuer, by ASAP convention.
pub fn issuer(kid: &str) -> &str {
    kid.split('/').next().unwrap_or(kid)
}

/// Whether `kid` sits directly under `issuer`: `ISSUER/NAME`, one level deep,
/// the kids `rotate` makes and `mint --issuer` picks from.
pub fn in_issuer(kid: &str, issuer: &str) -> bool {
    kid.strip_prefix(issuer)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// The file that holds `kid` in the key directory `dir`: `<dir>/<kid>.pem`,
/// for a kid that follows the rules only: a kid from a token or a flag
/// (`../../elsewhere`) never reaches the filesystem unchecked.
pub fn file_path(dir: &Path, kid: &str) -> Result<PathBuf, KidError> {
    validate(kid)?;
    Ok(dir.join(format!("{kid}.pem")))
}

/// When a kid's name says its key was made: its last segment is a day
/// (`jitsi/2026-12-01`, the n-th key of that day `jitsi/2026-12-01.02`) or
/// a second (`jitsi/2026-12-01T151136Z`), the names `rotate` gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedTime {
    /// The start of the day or second, in seconds since the epoch (UTC).
    pub start: u64,
    /// Its length in seconds: 86,400 for a day, 1 for a second.
    pub span: u64,
    /// The `.NN` suffix of a day's n-th key (1 without one).
    pub seq: u8,
}

/// The time `kid`'s last segment names, if it names one (see [`NamedTime`]).
///
/// ```
/// use asap_keyserver::kid::named_time;
/// assert_eq!(named_time("jitsi/2026-12-01").map(|n| (n.span, n.seq)), Some((86_400, 1)));
/// assert_eq!(named_time("jitsi/2026-12-01.02").map(|n| n.seq), Some(2));
/// assert_eq!(named_time("jitsi/2026-12-01T151136Z").map(|n| n.span), Some(1));
/// assert_eq!(named_time("jitsi/k1"), None);
/// ```
pub fn named_time(kid: &str) -> Option<NamedTime> {
    let last = kid.rsplit('/').next()?;
    let (name, seq) = match last.split_once('.') {
        Some((name, n)) if n.len() == 2 && n.bytes().all(|b| b.is_ascii_digit()) => {
            (name, n.parse::<u8>().ok().filter(|n| *n >= 2)?)
        }
        Some(_) => return None,
        None => (last, 1),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let (text, span) = match name.as_bytes() {
        [_, _, _, _, b'-', _, _, b'-', _, _] => (format!("{name}T00:00:00Z"), 86_400),
        [_, _, _, _, b'-', _, _, b'-', _, _, b'T', time @ .., b'Z']
            if seq == 1 && time.len() == 6 =>
        {
            let t = &name[11..17];
            if !digits(t) {
                return None;
            }
            (
                format!("{}T{}:{}:{}Z", &name[..10], &t[..2], &t[2..4], &t[4..]),
                1,
            )
        }
        _ => return None,
    };
    if !digits(&name[..4]) || !digits(&name[5..7]) || !digits(&name[8..10]) {
        return None;
    }
    let start = humantime::parse_rfc3339(&text)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(NamedTime { start, span, seq })
}

/// `YYYY-MM-DD` (UTC) of `t`: the name of a day's key.
pub fn day_name(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()[..10].to_owned()
}

/// `YYYY-MM-DDTHHMMSSZ` (UTC) of `t`: the name of a second's key.
pub fn second_name(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace(':', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_times() {
        let day = named_time("jitsi/2026-12-01").unwrap();
        assert_eq!((day.start, day.span, day.seq), (1_796_083_200, 86_400, 1));
        assert_eq!(named_time("a/b/2026-12-01.07").unwrap().seq, 7);
        let second = named_time("jitsi/2026-12-01T151136Z").unwrap();
        assert_eq!(second.start, 1_796_083_200 + 15 * 3600 + 11 * 60 + 36);
        assert_eq!(second.span, 1);
        for undated in [
            "jitsi/k1",
            "jitsi/2026-13-01",
            "jitsi/2026-02-30",
            "jitsi/2026-12-01.1",
            "jitsi/2026-12-01.01",
            "jitsi/2026-12-01.xx",
            "jitsi/2026-12-01T1511Z",
            "jitsi/2026-12-01T151136Z.02",
            "jitsi/20261201",
            "2026-12-01/k1",
        ] {
            assert_eq!(named_time(undated), None, "{undated}");
        }
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(second.start);
        assert_eq!(day_name(t), "2026-12-01");
        assert_eq!(second_name(t), "2026-12-01T151136Z");
        assert_eq!(named_time(&format!("x/{}", second_name(t))), Some(second));
    }

    #[test]
    fn accepts_asap_kids() {
        for kid in ["jitsi/2026-11-27", "a", "iss/key+1_x.y", "a/b/c/d"] {
            assert_eq!(validate(kid), Ok(()), "{kid}");
        }
    }

    #[test]
    fn rejects_each_rule() {
        assert_eq!(validate(""), Err(KidError::Empty));
        assert_eq!(validate("/a"), Err(KidError::LeadingSlash));
        assert_eq!(validate("a b"), Err(KidError::BadChar(' ')));
        assert_eq!(validate("a/./b"), Err(KidError::DotSegment(".")));
        assert_eq!(validate("../a"), Err(KidError::DotSegment("..")));
        assert_eq!(validate("a//b"), Err(KidError::EmptySegment));
        assert_eq!(validate("a/"), Err(KidError::EmptySegment));
        assert_eq!(validate("é"), Err(KidError::BadChar('é')));
    }

    #[test]
    fn path_to_kid() {
        let p = PathBuf::from("jitsi/2026-11-27.pem");
        assert_eq!(from_relative_path(&p), Some(Ok("jitsi/2026-11-27".into())));
        assert_eq!(from_relative_path(Path::new("a.txt")), None);
        assert_eq!(
            from_relative_path(Path::new("bad kid.pem")),
            Some(Err(KidError::BadChar(' ')))
        );
        assert_eq!(
            from_relative_path(Path::new(".pem")),
            Some(Err(KidError::Empty))
        );
    }

    #[test]
    fn routes_and_prosody_paths_shadow_kids() {
        let table = crate::routes::Routes::default();
        let (routes, documents) = (table.reserved_kids(), table.documents());
        let shadowed = |kid: &str| shadowed(kid, &routes, &documents);
        assert_eq!(
            shadowed("metrics").as_deref(),
            Some("/metrics is a route of the server itself")
        );
        assert_eq!(
            shadowed("a/b/.well-known/jwks.json").as_deref(),
            Some("/a/b/.well-known/jwks.json is the path of the JWKS of the keys under a/b/")
        );
        let path = prosody_path("other");
        assert!(shadowed(&path).is_some_and(|why| why.contains("the kid hashing to")));
        assert_eq!(shadowed(&path.to_uppercase().replace(".PEM", ".pem")), None);
        assert_eq!(shadowed("jitsi/k"), None);
        assert_eq!(prosody_hash(&path), Some(sha256("other")));
        assert_eq!(hash_path(&sha256("other")), path);
        assert_eq!(prosody_hash(&path[1..]), None);
    }

    #[test]
    fn servable_kids_follow_the_scanners_rules() {
        assert_eq!(servable_anywhere("jitsi/2026-12-01"), Ok(()));
        assert_eq!(servable_anywhere("oidc/other"), Ok(()));
        for kid in ["healthz", "metrics", "mint", "oidc/auth"] {
            assert!(
                matches!(servable_anywhere(kid), Err(KidError::Shadowed(_))),
                "{kid}"
            );
        }
        // A `--jwks-path keys.json` is also the JWKS of every folder.
        let custom = ["keys.json".to_owned()];
        assert!(matches!(
            servable("a/keys.json", &custom, &custom),
            Err(KidError::Shadowed(why)) if why.contains("JWKS of the keys under a/")
        ));
        let hex = prosody_path("jitsi/k");
        assert!(matches!(
            servable_anywhere(&hex),
            Err(KidError::Shadowed(why)) if why.contains("Prosody requests")
        ));
        assert_eq!(
            servable_anywhere("jitsi/.k"),
            Err(KidError::Hidden(".k".into()))
        );
        let deepest = vec!["d"; MAX_DEPTH].join("/");
        assert_eq!(servable_anywhere(&deepest), Ok(()));
        assert_eq!(
            servable_anywhere(&format!("{deepest}/d")),
            Err(KidError::TooDeep(MAX_DEPTH + 1))
        );
        assert_eq!(servable_anywhere("a b"), Err(KidError::BadChar(' ')));
    }

    #[test]
    fn hash_matches_sha256sum() {
        // printf 'jitsi/2026-11-27' | sha256sum
        assert_eq!(
            sha256_hex("jitsi/2026-11-27"),
            "a4af01cdafd502160c64949f2c9820d9e4be42c5fcd55ecfb82f3fd0d67352fc"
        );
        assert!(prosody_path("x").ends_with(".pem"));
        assert_eq!(issuer("jitsi/2026"), "jitsi");
        assert_eq!(issuer("solo"), "solo");
        assert!(in_issuer("jitsi/2026", "jitsi"));
        assert!(!in_issuer("jitsi/a/b", "jitsi"));
        assert!(!in_issuer("jitsix/a", "jitsi"));
        assert!(!in_issuer("jitsi", "jitsi"));
        assert_eq!(
            file_path(Path::new("keys"), "jitsi/k"),
            Ok(PathBuf::from("keys/jitsi/k.pem"))
        );
        assert_eq!(
            file_path(Path::new("keys"), "../../evil"),
            Err(KidError::DotSegment(".."))
        );
    }
}
