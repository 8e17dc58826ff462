//! Which key is the newest: the order keys were made in, never the order
//! their kids sort in.
//!
//! `mint --issuer`, `rotate`, `prune`, `?newest=N` and the token service ask
//! one question, answered here and nowhere else: which of these keys was
//! made last? `acme/k1` sorts after `acme/2026-12-01`, yet may be a year
//! older. The rule:
//!
//! - a date in the kid's last segment (`2026-12-01`, `2026-12-01.02`,
//!   `2026-12-01T151136Z`, the names `rotate` gives) says the key was made
//!   in that day or second, and a day's `.NN` key after its plain one; the
//!   file's mtime bounds the making from above (key material is never
//!   younger than the file that holds it), so a name dated after its
//!   file's mtime is contradicted and not believed;
//! - a kid without a (believed) date was made when its file was written,
//!   give or take [`MTIME_MARGIN`]: a copy of a whole directory (`cp -r`,
//!   `kubectl create secret`, the kubelet's projection, a restore) stamps
//!   its files within milliseconds to seconds of each other, so files
//!   written closer than that are not ordered; a key dropped a day later
//!   is a day later.
//!
//! Each key is thus made within a window ([`Made`]); a key is known newer
//! than another when its window starts after the other's ends. The newest
//! key is the one known newer than every other. When none is (two undated
//! kids written within the margin, say), the order is unknown: `mint
//! --issuer` refuses and names the candidates ([`newest`]); the running
//! token service keeps the key it signed with ([`keep_or_latest`]).
//!
//! How long a key has been in the directory is another question: its
//! ctime, which a copy or rename into place sets and nothing sets back.
//!
//! The clock in seconds since the epoch ([`now_secs`], [`epoch_secs`]) is
//! read here too, for every module that stamps or compares times.

use super::KeyEntry;
use crate::kid::{self, NamedTime};
use std::sync::Arc;
use std::time::{Duration, SystemTime, SystemTimeError, UNIX_EPOCH};

const NS: u64 = 1_000_000_000;

/// How much later the file of a key without a date in its kid must have
/// been written than another key's for it to be known newer: longer than
/// a copy of a whole key directory takes to stamp its files (milliseconds
/// to seconds), far shorter than the time between two rotations.
pub const MTIME_MARGIN: Duration = Duration::from_secs(60);

/// Seconds since the epoch at `t`; an error for a time before 1970.
pub fn epoch_secs(t: SystemTime) -> Result<u64, SystemTimeError> {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs())
}

/// Now, in seconds since the epoch (0 on a clock set before 1970).
pub fn now_secs() -> u64 {
    epoch_secs(SystemTime::now()).unwrap_or(0)
}

/// When a key was made, as far as the evidence goes: a window of
/// nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Made {
    /// Made no earlier than this.
    pub earliest: u64,
    /// Made no later than this.
    pub latest: u64,
    /// The time the kid names, when believed.
    pub named: Option<NamedTime>,
}

impl Made {
    /// The window for a key with this kid in a file last written at
    /// `modified_ns`.
    pub fn of(kid: &str, modified_ns: u64) -> Made {
        match kid::named_time(kid) {
            Some(n) if n.start.saturating_mul(NS) <= modified_ns => Made {
                earliest: n.start * NS,
                latest: modified_ns.min((n.start + n.span) * NS - 1),
                named: Some(n),
            },
            // Made when the file was written, give or take the margin.
            _ => Made {
                earliest: modified_ns.saturating_sub(MTIME_MARGIN.as_nanos() as u64),
                latest: modified_ns,
                named: None,
            },
        }
    }

    /// The window of a key in the key directory.
    pub fn of_entry(entry: &KeyEntry) -> Made {
        Made::of(&entry.kid, entry.times.modified_ns)
    }

    /// Whether this key was certainly made after `other`.
    pub fn newer_than(&self, other: &Made) -> bool {
        if self.earliest > other.latest {
            return true;
        }
        // The n-th key of a day comes after that day's earlier ones.
        match (self.named, other.named) {
            (Some(a), Some(b)) => a.start == b.start && a.span == b.span && a.seq > b.seq,
            _ => false,
        }
    }
}

/// A key with what is known of its age among its peers.
#[derive(Debug, Clone)]
pub struct Ranked {
    /// The key.
    pub key: Arc<KeyEntry>,
    /// When it was made.
    pub made: Made,
    /// How many of the other keys are known newer.
    pub newer: usize,
    /// The earliest ctime of a key known newer (ns): this key has not been
    /// the newest since then, at the latest.
    pub superseded_ns: Option<u64>,
}

/// Each of `keys` with how many others are known newer and since when it
/// has been superseded. O(n log n): the keys known newer than K by their
/// windows are those whose window starts after K's ends.
pub fn rank(keys: &[Arc<KeyEntry>]) -> Vec<Ranked> {
    let made: Vec<Made> = keys.iter().map(|k| Made::of_entry(k)).collect();
    // Indices by earliest start, and the smallest ctime from each on.
    let mut by_start: Vec<usize> = (0..keys.len()).collect();
    by_start.sort_by_key(|&i| made[i].earliest);
    let starts: Vec<u64> = by_start.iter().map(|&i| made[i].earliest).collect();
    let mut min_changed = vec![u64::MAX; keys.len() + 1];
    for (pos, &i) in by_start.iter().enumerate().rev() {
        min_changed[pos] = min_changed[pos + 1].min(keys[i].times.changed_ns);
    }
    // Keys named after the same day, for the `.NN` order among them.
    let mut days: std::collections::HashMap<u64, Vec<usize>> = std::collections::HashMap::new();
    for (i, m) in made.iter().enumerate() {
        if let Some(n) = m.named.filter(|n| n.span > 1) {
            days.entry(n.start).or_default().push(i);
        }
    }
    (0..keys.len())
        .map(|i| {
            let first_after = starts.partition_point(|&s| s <= made[i].latest);
            let mut newer = keys.len() - first_after;
            let mut superseded = min_changed[first_after];
            // Same-day `.NN` order, where the windows overlap.
            if let Some(n) = made[i].named.filter(|n| n.span > 1) {
                for &j in days.get(&n.start).map_or(&[][..], Vec::as_slice) {
                    let m = &made[j];
                    if j != i && m.newer_than(&made[i]) && m.earliest <= made[i].latest {
                        newer += 1;
                        superseded = superseded.min(keys[j].times.changed_ns);
                    }
                }
            }
            Ranked {
                key: Arc::clone(&keys[i]),
                made: made[i],
                newer,
                superseded_ns: (superseded != u64::MAX).then_some(superseded),
            }
        })
        .collect()
}

/// Why no key is the newest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoNewest {
    /// No key at all.
    Empty,
    /// The evidence cannot tell which of these was made last.
    Unknown {
        /// The kids that may be the newest.
        candidates: Vec<String>,
    },
}

/// The keys of `keys` that may be the newest: the one known newer than
/// every other, or, when the order cannot be told, every key no other is
/// known newer than (and those whose window reaches past the latest start
/// of these), in kid order. Empty only when `keys` is.
pub fn newest_candidates(keys: &[Arc<KeyEntry>]) -> Vec<Arc<KeyEntry>> {
    let ranked = rank(keys);
    let tops: Vec<&Ranked> = ranked.iter().filter(|r| r.newer == 0).collect();
    if let [top] = tops.as_slice() {
        if ranked
            .iter()
            .all(|r| Arc::ptr_eq(&r.key, &top.key) || top.made.newer_than(&r.made))
        {
            return vec![Arc::clone(&top.key)];
        }
    }
    let mut candidates: Vec<Arc<KeyEntry>> = if tops.is_empty() {
        ranked.iter().map(|r| Arc::clone(&r.key)).collect()
    } else {
        let latest_start = tops.iter().map(|t| t.made.earliest).max().unwrap_or(0);
        ranked
            .iter()
            .filter(|r| r.newer == 0 || r.made.latest >= latest_start)
            .map(|r| Arc::clone(&r.key))
            .collect()
    };
    candidates.sort_by(|a, b| a.kid.cmp(&b.kid));
    candidates
}

/// The key of `keys` known newer than every other one.
pub fn newest(keys: &[Arc<KeyEntry>]) -> Result<Arc<KeyEntry>, NoNewest> {
    match newest_candidates(keys).as_slice() {
        [] => Err(NoNewest::Empty),
        [only] => Ok(Arc::clone(only)),
        many => Err(NoNewest::Unknown {
            candidates: many.iter().map(|k| k.kid.clone()).collect(),
        }),
    }
}

/// Of `candidates` whose order cannot be told, the one a running service
/// signs with: `keep` (the kid it signed with before) when it is one of
/// them, so that adding a key never moves signing to a guess; else the
/// one whose file was written last (the last kid on a tie). `None` only
/// for no candidates.
pub fn keep_or_latest(candidates: &[Arc<KeyEntry>], keep: Option<&str>) -> Option<Arc<KeyEntry>> {
    keep.and_then(|kid| candidates.iter().find(|k| k.kid == kid))
        .or_else(|| {
            candidates
                .iter()
                .max_by(|a, b| (a.times.modified_ns, &a.kid).cmp(&(b.times.modified_ns, &b.kid)))
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keydir::{FileTimes, KeySet};

    const DAY: u64 = 86_400 * NS;
    /// 2026-12-01T00:00:00Z in ns.
    const DEC1: u64 = 1_796_083_200 * NS;
    const MARGIN: u64 = 60 * NS;

    fn made(kid: &str, mtime: u64) -> Made {
        Made::of(kid, mtime)
    }

    #[test]
    fn windows_from_names_and_mtimes() {
        let undated = made("acme/k1", DEC1 + 5);
        assert_eq!(
            (undated.earliest, undated.latest),
            (DEC1 + 5 - MARGIN, DEC1 + 5)
        );
        let day = made("acme/2026-12-01", DEC1 + 3 * DAY);
        assert_eq!((day.earliest, day.latest), (DEC1, DEC1 + DAY - 1));
        // A name dated after its file was written is not believed.
        let future = made("acme/2099-01-01", DEC1);
        assert_eq!(
            (future.earliest, future.latest, future.named.is_some()),
            (DEC1 - MARGIN, DEC1, false)
        );
        // Written the same day: the mtime is the tighter bound.
        assert_eq!(made("acme/2026-12-01", DEC1 + 7).latest, DEC1 + 7);
    }

    #[test]
    fn order_follows_evidence_not_spelling() {
        let k1 = made("acme/k1", DEC1 + 10 * NS);
        let rotated = made("acme/2026-12-01T000011Z", DEC1 + 11 * NS + 5);
        assert!(rotated.newer_than(&k1) && !k1.newer_than(&rotated));
        // Two undated keys: by their file times, when more than the margin apart.
        let k2 = made("acme/k2", DEC1 + DAY);
        assert!(k2.newer_than(&k1) && !k1.newer_than(&k2));
        let copied = made("acme/k3", DEC1 + 10 * NS + MARGIN);
        assert!(!copied.newer_than(&k1) && !k1.newer_than(&copied));
        let later = made("acme/k3", DEC1 + 10 * NS + MARGIN + 1);
        assert!(later.newer_than(&k1) && !k1.newer_than(&later));
        // A day's .NN key after its plain one, whatever the mtimes.
        let first = made("acme/2026-12-01", DEC1 + 20 * NS);
        let second = made("acme/2026-12-01.02", DEC1 + 10 * NS);
        assert!(second.newer_than(&first) && !first.newer_than(&second));
        // The same day and an undated key written that day: unknown.
        assert!(!first.newer_than(&k1) && !k1.newer_than(&first));
    }

    fn entry(dir: &std::path::Path, kid: &str, modified_ns: u64, changed_ns: u64) -> Arc<KeyEntry> {
        // One generated key, copied under each kid: only the times matter here.
        let seed = dir.join("seed/key.pem");
        if !seed.exists() {
            crate::keydir::keygen::create(dir, "seed/key", 2048).unwrap();
        }
        let path = crate::kid::file_path(dir, kid).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _ = std::fs::copy(&seed, &path);
        let set = KeySet::load(dir).unwrap();
        let k = set.get(kid).unwrap();
        let mut e = KeyEntry::new(
            k.kid.clone(),
            Arc::from(dir),
            crate::keys::decode_public(&std::fs::read(k.source()).unwrap()).unwrap(),
            k.mode,
            FileTimes {
                modified_ns,
                changed_ns,
            },
        );
        e.replaced_secs = 0;
        Arc::new(e)
    }

    #[test]
    fn newest_and_ranks() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let k1 = entry(d, "acme/k1", DEC1 + 10 * NS, DEC1 + 10 * NS);
        let r1 = entry(
            d,
            "acme/2026-12-01T000011Z",
            DEC1 + 11 * NS + 1,
            DEC1 + 12 * NS,
        );
        let r2 = entry(
            d,
            "acme/2026-12-01T000013Z",
            DEC1 + 13 * NS + 1,
            DEC1 + 14 * NS,
        );
        let all = vec![Arc::clone(&r1), Arc::clone(&k1), Arc::clone(&r2)];
        assert_eq!(newest(&all).unwrap().kid, "acme/2026-12-01T000013Z");
        let ranks = rank(&all);
        let by_kid = |kid: &str| ranks.iter().find(|r| r.key.kid == kid).unwrap();
        assert_eq!(by_kid("acme/k1").newer, 2);
        assert_eq!(by_kid("acme/k1").superseded_ns, Some(DEC1 + 12 * NS));
        assert_eq!(by_kid("acme/2026-12-01T000011Z").newer, 1);
        assert_eq!(by_kid("acme/2026-12-01T000013Z").newer, 0);
        assert_eq!(by_kid("acme/2026-12-01T000013Z").superseded_ns, None);

        let k2 = entry(d, "acme/k2", DEC1 + 20 * NS, DEC1 + 20 * NS);
        assert_eq!(
            newest(&[Arc::clone(&k1), Arc::clone(&k2)]).unwrap_err(),
            (NoNewest::Unknown {
                candidates: vec!["acme/k1".into(), "acme/k2".into()]
            })
        );
        // k2 may be newer than r2 (made before r2, copied here after it).
        assert_eq!(
            newest(&[Arc::clone(&r2), Arc::clone(&k2), Arc::clone(&k1)]).unwrap_err(),
            (NoNewest::Unknown {
                candidates: vec!["acme/2026-12-01T000013Z".into(), "acme/k2".into()]
            })
        );
        assert_eq!(newest(&[]).unwrap_err(), NoNewest::Empty);
        assert_eq!(newest(&[Arc::clone(&k2)]).unwrap().kid, "acme/k2");
    }

    #[test]
    fn a_key_dropped_a_day_later_is_the_newest_and_a_copy_is_not_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Finding 3: k1 written a day ago, k2 dropped now.
        let k1 = entry(d, "jitsi/k1", DEC1, DEC1);
        let k2 = entry(d, "jitsi/k2", DEC1 + DAY, DEC1 + DAY);
        let both = [Arc::clone(&k1), Arc::clone(&k2)];
        assert_eq!(newest(&both).unwrap().kid, "jitsi/k2");
        let ranks = rank(&both);
        let newer = |kid: &str| ranks.iter().find(|r| r.key.kid == kid).unwrap().newer;
        assert_eq!((newer("jitsi/k1"), newer("jitsi/k2")), (1, 0));
        // A dated key written before an undated one was dropped: the undated one.
        let dated = entry(d, "jitsi/2026-11-30", DEC1 - DAY / 2, DEC1 - DAY / 2);
        assert_eq!(
            newest(&[Arc::clone(&dated), Arc::clone(&k1)]).unwrap().kid,
            "jitsi/k1"
        );
        // A dated key whose day began after the undated file was written.
        let dec2 = entry(d, "jitsi/2026-12-02", DEC1 + DAY + 5 * NS, DEC1 + DAY);
        assert_eq!(
            newest(&[Arc::clone(&k1), Arc::clone(&dec2)]).unwrap().kid,
            "jitsi/2026-12-02"
        );
        // A copy stamps both files within the margin: not ordered.
        let c1 = entry(d, "jitsi/c1", DEC1 + 2 * NS, DEC1 + 2 * NS);
        let c2 = entry(d, "jitsi/c2", DEC1 + 2 * NS + 30 * NS, DEC1 + 2 * NS);
        let copy = [Arc::clone(&c2), Arc::clone(&c1)];
        assert_eq!(
            newest(&copy).unwrap_err(),
            NoNewest::Unknown {
                candidates: vec!["jitsi/c1".into(), "jitsi/c2".into()]
            }
        );
        // The running service keeps the key it had; at start, the latest file.
        let cands = newest_candidates(&copy);
        assert_eq!(cands.len(), 2);
        let kept = |keep| keep_or_latest(&cands, keep).unwrap().kid.clone();
        assert_eq!(kept(Some("jitsi/c1")), "jitsi/c1");
        assert_eq!(kept(Some("jitsi/c2")), "jitsi/c2");
        assert_eq!(kept(None), "jitsi/c2");
        assert_eq!(kept(Some("jitsi/gone")), "jitsi/c2");
        // Same file time: the last kid, so that replicas agree.
        let t1 = entry(d, "jitsi/t1", DEC1, DEC1);
        let t2 = entry(d, "jitsi/t2", DEC1, DEC1);
        assert_eq!(keep_or_latest(&[t2, t1], None).unwrap().kid, "jitsi/t2");
        assert!(keep_or_latest(&[], Some("jitsi/c1")).is_none());
    }
}
