//! The one safe read of every input read whole: key files (the scanner
//! often runs as a service user, `doctor` as root), the files a Prosody
//! config names, the token service's config and secret files, `mint`'s
//! claims, CA files, and tokens or claims on stdin.
//!
//! Opening a FIFO would wait for a writer forever, a terminal would become
//! ours, and a device or a huge file would be read without end. So the file
//! is opened non-blocking and without taking a terminal, checked on the
//! opened descriptor (`fstat`: what was opened, not what a path showed a
//! moment before) to be a regular file, and read up to a limit. Stdin may
//! be a pipe (or `/dev/zero`): at most the limit and one byte more is read.

use std::fs;
use std::io::{self, Read as _};
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not a regular file (a folder, a FIFO, a socket, a device): its type.
    #[error("not a regular file but {}", kind(.0))]
    NotRegular(fs::FileType),
    /// Over the limit: its size, or what was read of it (the limit and a
    /// byte more) if it grew meanwhile or came through a pipe.
    #[error("larger than {}", in_words(*.limit))]
    TooLarge {
        /// Its size, or what was read of it.
        size: u64,
        /// The limit it is over.
        limit: u64,
    },
    /// Opening, `fstat` or reading failed.
    #[error("{0}")]
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Opens `path` for reading without blocking on a FIFO or taking a terminal.
pub fn open_nonblocking(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// The bytes of `path` if it is a regular file of at most `limit` bytes.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    read_opened(file, &meta, limit)
}

/// [`read_regular`] for a `file` the caller opened with [`open_nonblocking`]
/// and `fstat`ed (`meta`), to look at it before reading.
pub fn read_opened(file: fs::File, meta: &fs::Metadata, limit: u64) -> Result<Vec<u8>, ReadError> {
    if !meta.is_file() {
        return Err(ReadError::NotRegular(meta.file_type()));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    // It may grow while we read.
    read_capped(file, meta.len(), limit)
}

/// Stdin, whole, if it holds at most `limit` bytes: a pipe that never ends
/// (`< /dev/zero`) is refused once the limit is passed.
pub fn read_stdin(limit: u64) -> Result<Vec<u8>, ReadError> {
    read_capped(io::stdin().lock(), 0, limit)
}

fn read_capped(input: impl io::Read, expected: u64, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut data = Vec::with_capacity(expected.min(limit) as usize);
    input.take(limit + 1).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            size: data.len() as u64,
            limit,
        });
    }
    Ok(data)
}

/// What a file that is not a regular one is, in words.
fn kind(t: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "a special file"
    }
}

/// `limit` bytes in words: `64 KiB`, `4 MiB`, else `N bytes`.
fn in_words(limit: u64) -> String {
    match limit {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_the_file_is_and_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let shown = |path: &Path| read_regular(path, 1 << 20).unwrap_err().to_string();
        assert_eq!(shown(&fifo), "not a regular file but a FIFO (named pipe)");
        assert_eq!(shown(dir.path()), "not a regular file but a folder");
        assert_eq!(
            shown(Path::new("/dev/zero")),
            "not a regular file but a device"
        );
        let big = dir.path().join("big");
        fs::write(&big, [b'-'; 1025]).unwrap();
        assert_eq!(
            read_regular(&big, 1024).unwrap_err().to_string(),
            "larger than 1 KiB"
        );
        assert_eq!(read_regular(&big, 1025).unwrap().len(), 1025);
        let endless = io::repeat(0);
        assert!(matches!(
            read_capped(endless, 0, 4 << 20),
            Err(ReadError::TooLarge { size, limit: 4194304 }) if size == 4194305
        ));
        assert_eq!(in_words(1000), "1000 bytes");
    }
}
