//! The response parts of recently asked-for keys (PEM body, ETag,
//! Last-Modified), made from a key's DER on first use and kept in a small
//! direct-mapped table. Keys hold only their DER (memory per key is what
//! scales); hot keys, the ones requests repeat, are answered from bytes
//! made once. A key replaced under its kid is a new entry, so its old parts
//! are never served.

use super::headers;
use crate::keydir::KeyEntry;
use arc_swap::ArcSwapOption;
use bytes::Bytes;
use hyper::header::HeaderValue;
use std::sync::Arc;

/// Slots in the table (a few MB at most, whatever the number of keys).
const SLOTS: usize = 4096;

/// A key's response parts.
#[derive(Debug)]
pub struct Parts {
    entry: Arc<KeyEntry>,
    /// The SPKI PEM.
    pub pem: Bytes,
    /// Strong ETag.
    pub etag: HeaderValue,
    /// Last-Modified.
    pub last_modified: HeaderValue,
    /// `Asap-Key-Replaced`, when the kid's material changed while serving.
    pub replaced: Option<HeaderValue>,
}

/// The table; lock-free for readers and writers.
#[derive(Debug)]
pub struct PartCache {
    slots: Box<[ArcSwapOption<Parts>]>,
}

impl Default for PartCache {
    fn default() -> Self {
        PartCache {
            slots: (0..SLOTS).map(|_| ArcSwapOption::empty()).collect(),
        }
    }
}

impl PartCache {
    /// The parts of `entry`, made now if its slot holds another key.
    pub fn get(&self, entry: &Arc<KeyEntry>) -> Arc<Parts> {
        let h = &entry.kid_hash;
        let slot = &self.slots[usize::from(u16::from_le_bytes([h[0], h[1]])) % SLOTS];
        if let Some(parts) = slot.load_full() {
            if Arc::ptr_eq(&parts.entry, entry) {
                return parts;
            }
        }
        let parts = Arc::new(Parts {
            entry: Arc::clone(entry),
            pem: entry.pem(),
            etag: headers::key_etag(&entry.public.fingerprint),
            last_modified: headers::http_date(entry.times.modified_secs()),
            replaced: (entry.replaced_secs != 0).then(|| headers::http_date(entry.replaced_secs)),
        });
        slot.store(Some(Arc::clone(&parts)));
        parts
    }
}
