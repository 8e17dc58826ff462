//! `export`: the public side of the key directory as static files, for
//! nginx, an object store or a CDN when one key server is not enough.
//!
//! Each export is written whole into a fresh version directory beside the
//! target, then published by atomically replacing the target symlink, so a
//! web server never sees a half-written tree. The version before stays on
//! disk (a request may still be reading it); older ones are removed. Only
//! public keys are written, re-encoded as SPKI like `serve` answers them.

use super::KeySet;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Which files to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// `<sha256(kid)>.pem`, for Prosody.
    Jitsi,
    /// `<kid>`, for ASAP clients.
    Asap,
    /// `.well-known/jwks.json`.
    Jwks,
    /// All three.
    All,
}

/// Why an export failed. Nothing is published on failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The key directory could not be scanned.
    #[error(transparent)]
    Keys(#[from] crate::error::Error),
    /// The target exists and is not an export symlink.
    #[error("{0} exists and is not a symlink: export publishes OUTDIR as a symlink to a complete copy, swapped atomically; remove it or choose another OUTDIR")]
    NotSymlink(PathBuf),
    /// A file could not be written.
    #[error("cannot write {path} (nothing was published)")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The version directory `out` now points to.
    pub version: PathBuf,
    /// Keys exported.
    pub keys: usize,
    /// Files written.
    pub files: usize,
    /// ASAP files left out because one kid is a directory of another (`a` and `a/b`).
    pub conflicts: Vec<String>,
}

fn write_file(path: &Path, data: &[u8]) -> Result<(), ExportError> {
    let err = |source| ExportError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(err)?;
    f.write_all(data).map_err(err)?;
    Ok(())
}

fn write_version(
    set: &KeySet,
    version: &Path,
    layout: Layout,
) -> Result<(usize, Vec<String>), ExportError> {
    let mut files = 0;
    let mut conflicts = Vec::new();
    if matches!(layout, Layout::Jitsi | Layout::All) {
        for k in set.keys() {
            write_file(&version.join(k.url_path()), &k.pem())?;
            files += 1;
        }
    }
    if matches!(layout, Layout::Asap | Layout::All) {
        // Longest kids first: `a/b` claims the directory `a` before file `a` is tried.
        let mut kids: Vec<_> = set.keys().collect();
        kids.sort_by_key(|k| std::cmp::Reverse(k.kid.matches('/').count()));
        for k in kids {
            let path = version.join(&k.kid);
            let blocked = path.exists()
                || path
                    .ancestors()
                    .skip(1)
                    .take_while(|a| *a != version)
                    .any(Path::is_file);
            if blocked {
                conflicts.push(k.kid.clone());
                continue;
            }
            write_file(&path, &k.pem())?;
            files += 1;
        }
    }
    if matches!(layout, Layout::Jwks | Layout::All) {
        write_file(
            &version.join(".well-known/jwks.json"),
            &set.jwks_document(&crate::keydir::Scope::All),
        )?;
        files += 1;
    }
    Ok((files, conflicts))
}

/// Exports the public keys of `keys_dir` to `out`.
pub fn export(keys_dir: &Path, out: &Path, layout: Layout) -> Result<Exported, ExportError> {
    let set = KeySet::load(keys_dir)?;
    if let Ok(meta) = std::fs::symlink_metadata(out) {
        if !meta.file_type().is_symlink() {
            return Err(ExportError::NotSymlink(out.to_owned()));
        }
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("export");
    let versions_name = format!(".{name}.versions");
    let versions = parent.join(&versions_name);
    let mut nonce = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut nonce);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let version_name = format!("{stamp:020}-{}", hex::encode(nonce));
    let version = versions.join(&version_name);
    let werr = |path: &Path| {
        let path = path.to_owned();
        move |source| ExportError::Write { path, source }
    };
    std::fs::create_dir_all(&version).map_err(werr(&version))?;
    std::fs::set_permissions(&version, std::fs::Permissions::from_mode(0o755))
        .map_err(werr(&version))?;
    let (files, conflicts) = match write_version(&set, &version, layout) {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&version);
            return Err(e);
        }
    };
    // Publish: a new symlink renamed over the old one is an atomic swap.
    let link = parent.join(format!(".{name}.link-{}", hex::encode(nonce)));
    let target = Path::new(&versions_name).join(&version_name);
    let publish =
        std::os::unix::fs::symlink(&target, &link).and_then(|()| std::fs::rename(&link, out));
    if let Err(source) = publish {
        let _ = std::fs::remove_file(&link);
        let _ = std::fs::remove_dir_all(&version);
        return Err(ExportError::Write {
            path: out.to_owned(),
            source,
        });
    }
    prune_versions(&versions, 2);
    Ok(Exported {
        version,
        keys: set.len(),
        files,
        conflicts,
    })
}

/// Keeps the newest `keep` version directories.
fn prune_versions(versions: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(versions) else {
        return;
    };
    let mut names: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    names.sort();
    let old = names.len().saturating_sub(keep);
    for path in names.into_iter().take(old) {
        let _ = std::fs::remove_dir_all(path);
    }
}
