//! Writing key files safely: never clobber, never leave half a file.

/// Writes a new private key file with mode 0600: see [`write_new_file`].
pub fn write_new_private_key(path: &std::path::Path, pem: &str) -> std::io::Result<()> {
    write_new_file(path, pem.as_bytes(), 0o600)
}

/// Writes a new file with `mode`, never clobbering an existing file and
/// never leaving a partial one.
///
/// The data goes to a hidden temp file in the target directory (created
/// 0700 if missing), is synced, then hard-linked to its final name, which
/// fails with `AlreadyExists` if the name is taken, and the temp name is
/// removed; a watching server sees the file appear whole. Any failure (a
/// full disk, say) removes the temp file and returns the error.
pub fn write_new_file(path: &std::path::Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("key.pem");
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| std::io::Error::other("no randomness"))?;
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        hex::encode(nonce)
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed `mode`; a public key should be readable.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(data)?;
        file.sync_all()?;
        drop(file);
        std::fs::hard_link(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}
