//! Values a config read from files, kept out of what `doctor`, `verify`
//! and `login` print.
//!
//! `app_secret = FileContents("/run/secrets/jitsi")` is a valid config, and
//! so, to Prosody, is `app_id = FileContents("/etc/shadow")`: Prosody reads
//! the file, so we must too, to check what Prosody will do. But `doctor` is
//! run as root on configs the prosody group may write, and its output is
//! pasted into tickets: a finding that quotes such a value would print the
//! file. So every text a file function returns is remembered, with the
//! option values made from one (the text within a longer value, or a run of
//! it cut out of a value), and [`Redactions::scrub`] replaces them in
//! whatever is printed with `(value read from FILE, N bytes, not shown)`.
//!
//! This keeps files out of output shown to people; it does not stop a
//! config written to leak a file from leaking it (transformed, or sent to a
//! URL that `doctor` fetches).

use std::path::{Path, PathBuf};

/// Texts shorter than this are hidden only where they are a whole value:
/// replacing every `"on"` in the output would hide the output instead.
const MIN_SCRUBBED: usize = 4;
/// A value this long that occurs in a text read from a file came from it
/// (`FileContents(f):match(...)`).
const MIN_RUN: usize = 8;

/// One text read from a file, or a value made from one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileText {
    file: PathBuf,
    text: String,
}

/// What a config read from files, to keep out of output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactions {
    /// Longest first, so a text is replaced before a line of it.
    texts: Vec<FileText>,
}

impl Redactions {
    /// Remembers `text`, read from `file`, and each of its lines.
    pub(super) fn read(&mut self, file: &Path, text: &str) {
        self.add(file, text);
        if text.contains('\n') {
            for line in text.lines() {
                self.add(file, line);
            }
        }
    }

    /// Remembers `value` if it was made from a text read from a file.
    pub(super) fn derived(&mut self, value: &str) {
        if let Some(file) = self.origin(value).map(|t| t.file.clone()) {
            self.add(&file, value);
        }
    }

    fn add(&mut self, file: &Path, text: &str) {
        if text.is_empty() || self.texts.iter().any(|t| t.text == text) {
            return;
        }
        let at = self
            .texts
            .iter()
            .position(|t| t.text.len() < text.len())
            .unwrap_or(self.texts.len());
        self.texts.insert(
            at,
            FileText {
                file: file.to_owned(),
                text: text.to_owned(),
            },
        );
    }

    /// Whether nothing was read from a file.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// The text read from a file that `value` is, holds, or was cut from.
    fn origin(&self, value: &str) -> Option<&FileText> {
        self.texts.iter().find(|t| {
            value == t.text
                || (t.text.len() >= MIN_SCRUBBED && value.contains(&t.text))
                || (value.len() >= MIN_RUN && t.text.contains(value))
        })
    }

    /// `text` with every text read from a file, or value made from one,
    /// replaced by `(value read from FILE, N bytes, not shown)`: as it is,
    /// and as `{:?}` quotes it (with its quotes, then within a longer
    /// quoted value).
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for t in self.texts.iter().filter(|t| t.text.len() >= MIN_SCRUBBED) {
            let hidden = format!(
                "(value read from {}, {} bytes, not shown)",
                t.file.display(),
                t.text.len()
            );
            let quoted = format!("{:?}", t.text);
            let inner = &quoted[1..quoted.len() - 1];
            for form in [quoted.as_str(), inner, t.text.as_str()] {
                if out.contains(form) {
                    out = out.replace(form, &hidden);
                }
            }
        }
        out
    }

    /// [`Self::scrub`] on a string in place.
    pub fn scrub_in(&self, text: &mut String) {
        if !self.is_empty() {
            *text = self.scrub(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_from_files_and_values_made_of_them_are_replaced_however_quoted() {
        let mut r = Redactions::default();
        let file = Path::new("/etc/shadow");
        r.read(file, "root:S3CRET-HASH:19000\nbin:*:19000\n");
        r.read(Path::new("flag"), "on");
        r.derived("http://keys/root:S3CRET-HASH:19000");
        r.derived("S3CRET-HASH");
        r.derived("jitsi");
        let whole = "(value read from /etc/shadow, 35 bytes, not shown)";
        assert_eq!(
            r.scrub("app_id \"root:S3CRET-HASH:19000\\nbin:*:19000\\n\""),
            format!("app_id {whole}")
        );
        assert_eq!(
            r.scrub("[\"a\", \"xroot:S3CRET-HASH:19000\\nbin:*:19000\\nx\"]"),
            format!("[\"a\", \"x{whole}x\"]")
        );
        assert_eq!(
            r.scrub("GET http://keys/root:S3CRET-HASH:19000/abc.pem"),
            "GET (value read from /etc/shadow, 34 bytes, not shown)/abc.pem"
        );
        assert_eq!(
            r.scrub("hash S3CRET-HASH, line bin:*:19000"),
            "hash (value read from /etc/shadow, 11 bytes, not shown), line (value read from /etc/shadow, 11 bytes, not shown)"
        );
        // Short texts are not hunted in free text, and "jitsi" came from no file.
        assert_eq!(r.scrub("on jitsi"), "on jitsi");
    }
}
