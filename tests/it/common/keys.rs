//! Test keys made by the `openssl` CLI at test time, key directories, and
//! files written the ways operators write them.

use super::process::{openssl, openssl_stdin};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One RSA key in every PEM form, made by the openssl CLI.
#[derive(Clone)]
pub struct TestKey {
    /// `BEGIN PRIVATE KEY`
    pub pkcs8: String,
    /// `BEGIN RSA PRIVATE KEY`
    pub pkcs1: String,
    /// `BEGIN PUBLIC KEY` as openssl writes it
    pub spki: String,
    /// `BEGIN RSA PUBLIC KEY`
    pub pkcs1_public: String,
}

fn make_key(bits: u32) -> TestKey {
    let pkcs8 = String::from_utf8(openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        &format!("rsa_keygen_bits:{bits}"),
    ]))
    .unwrap();
    let pkcs1 =
        String::from_utf8(openssl_stdin(&["rsa", "-traditional"], pkcs8.as_bytes())).unwrap();
    let spki = String::from_utf8(openssl_stdin(&["pkey", "-pubout"], pkcs8.as_bytes())).unwrap();
    let pkcs1_public = String::from_utf8(openssl_stdin(
        &["rsa", "-RSAPublicKey_out"],
        pkcs8.as_bytes(),
    ))
    .unwrap();
    assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(pkcs1_public.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    TestKey {
        pkcs8,
        pkcs1,
        spki,
        pkcs1_public,
    }
}

/// Four distinct 2048-bit keys, generated once per test binary.
pub fn keys() -> &'static [TestKey] {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| make_key(2048)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

pub fn key(i: usize) -> &'static TestKey {
    &keys()[i]
}

/// Lowercase hex sha256 of the kid, computed by `openssl dgst`, not our code.
pub fn sha256_hex(kid: &str) -> String {
    let out = String::from_utf8(openssl_stdin(&["dgst", "-sha256", "-r"], kid.as_bytes())).unwrap();
    out.split_whitespace().next().unwrap().to_owned()
}

pub fn key_path(kid: &str) -> String {
    format!("/{}.pem", sha256_hex(kid))
}

/// Writes a file, creating parent directories.
pub fn write(path: impl AsRef<Path>, data: impl AsRef<[u8]>) {
    let path = path.as_ref();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Writes through a temp file and a rename, as a careful tool would.
pub fn write_atomic(path: impl AsRef<Path>, data: impl AsRef<[u8]>) {
    let path = path.as_ref();
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_str().unwrap()
    ));
    write(&tmp, data);
    std::fs::rename(tmp, path).unwrap();
}

/// Writes a private key file with mode 0600, as a careful operator would.
pub fn write_private(path: impl AsRef<Path>, pem: &str) {
    write(&path, pem);
    chmod(path.as_ref(), 0o600);
}

/// The file's status-change time (when it appeared at its path), in
/// seconds: the time a key's age (`min_key_age`) counts from.
pub fn appeared_secs(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).unwrap().ctime() as u64
}

/// Sets a file's modification time (`touch -d`), as a copy that keeps
/// times (`cp -a`, a restore) or a file written long ago would have it.
pub fn set_mtime(path: &Path, t: std::time::SystemTime) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(t).unwrap();
}

/// Sets a file's or folder's permission bits.
pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// A fresh key directory.
pub fn keydir() -> (tempfile::TempDir, PathBuf) {
    let t = tempdir();
    let p = t.path().join("keys");
    std::fs::create_dir(&p).unwrap();
    (t, p)
}
