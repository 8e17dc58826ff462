//! Reading a file whoever may write its folder put there, so that no file
//! can stop the reader: key files (the scanner often runs as a service
//! user, `doctor` as root) and the files a Prosody config names.
//!
//! Opening a FIFO would wait for a writer forever, a terminal would become
//! ours, and a device or a huge file would be read without end. So the file
//! is opened non-blocking and without taking a terminal, checked on the
//! opened descriptor (`fstat`: what was opened, not what a path showed a
//! moment before) to be a regular file, and read up to a limit.

use std::fs;
use std::io::{self, Read as _};
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not a regular file (a folder, a FIFO, a socket, a device): its type.
    #[error("not a regular file ({0:?})")]
    NotRegular(fs::FileType),
    /// Over the limit: its size, or what was read of it if it grew meanwhile.
    #[error("too large ({0} bytes)")]
    TooLarge(u64),
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
        return Err(ReadError::TooLarge(meta.len()));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        // It grew while we read.
        return Err(ReadError::TooLarge(data.len() as u64));
    }
    Ok(data)
}
