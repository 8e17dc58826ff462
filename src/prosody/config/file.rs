//! Reading the files a Prosody config names (the config itself,
//! `Include`, `FileContents`, `FileLine(s)`, the token plugin under
//! `plugin_paths`) so that no file can stop `doctor` or `verify`.
//!
//! A config is written by whoever may write Prosody's folder, and `doctor`
//! often runs as root: so the file is read as key files are
//! ([`crate::keys::read_regular`]: opened non-blocking and without taking a
//! terminal, checked on the opened descriptor to be a regular file, read up
//! to a limit), with the reasons in words.

use crate::keys::ReadError;
use std::path::Path;

/// Largest file read: the config, an included file or a file's contents.
pub const MAX_FILE: u64 = 4 * 1024 * 1024;

/// The bytes of `path` if it is a regular file of at most [`MAX_FILE`]
/// bytes; an error saying what it is otherwise.
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    crate::keys::read_regular(path, MAX_FILE).map_err(|e| match e {
        ReadError::Io(e) => e,
        ReadError::NotRegular(_) => std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        ReadError::TooLarge { .. } => std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

/// [`read_regular`], as UTF-8 text (as Prosody's configs are).
pub fn read_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_regular(path)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is refused and why is `keys::read`'s (tested there); this
    /// file adds its limit and the text check.
    #[test]
    fn a_config_is_read_up_to_its_limit_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'-'; MAX_FILE as usize + 1]).unwrap();
        assert_eq!(
            read_regular(&big).unwrap_err().to_string(),
            "larger than 4 MiB"
        );
        let small = dir.path().join("small");
        std::fs::write(&small, "x = 1\n").unwrap();
        assert_eq!(read_text(&small).unwrap(), "x = 1\n");
    }
}
