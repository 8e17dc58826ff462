//! The generations of Jitsi's token plugin in the field, as data.
//!
//! The plugin (`token/util.lib.lua` and friends under Prosody's
//! `plugin_paths`) changed what it accepts twice: in 2025-11 `cache_keys_url`
//! learned to read a JWKS, and in 2026-05 `sub` became required at login and
//! a missing `room` got a clean error. Each generation is one row of
//! [`GENERATIONS`]: the checks read their differences from the row, so the
//! next upstream change is a new row, not a new code path. A generation is
//! chosen by date (`verify --jitsi 2025-12`) or detected from the installed
//! plugin files ([`detect`]).

use std::path::{Path, PathBuf};

/// One generation of the token plugin.
#[derive(Debug, PartialEq, Eq)]
pub struct Generation {
    /// Short name: `G1`, `G2`, `G3`.
    pub name: &'static str,
    /// First month (`YYYY-MM`) of upstream that behaves so; `None` for the oldest.
    pub since: Option<&'static str>,
    /// `cache_keys_url` takes a JWKS (`keys[]` with `kid`, RSA `n`/`e`).
    pub jwks: bool,
    /// `sub` is required at login, and the error Prosody answers without it.
    pub sub_required: Option<Rejection>,
    /// What a missing `room` (with `asap_require_room_claim`) looks like.
    pub missing_room: Rejection,
    /// The `exp` failure text says how long ago the token expired.
    pub exp_detail: bool,
    /// Every room join first looks the room up under the MUC domain made of
    /// `muc_mapper_domain_base`: without it, every join is refused ("Room
    /// does not exist"). Before, only `sub` `"*"` and tenant subs needed it
    /// ("Room and token mismatched"). (Upstream added the look-up in
    /// 2025-09, so late plugins of the first generation have it too.)
    pub room_lookup: bool,
    /// What the installed files show for this generation.
    pub marker: Marker,
}

/// How Prosody turns a login away.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The SASL condition (`not-allowed`, `not-authorized`).
    pub condition: &'static str,
    /// The text Prosody logs and sends.
    pub text: &'static str,
    /// Whether the client gets a SASL answer at all (the 0.12 plugin's
    /// missing-room error crashes the reply, so the client just disconnects).
    pub answered: bool,
}

/// What identifies a generation in the installed plugin files.
#[derive(Debug, PartialEq, Eq)]
pub struct Marker {
    /// `token/jwk.lib.lua` exists beside `token/util.lib.lua`.
    pub jwk_lib: bool,
    /// Strings `token/util.lib.lua` contains.
    pub util_contains: &'static [&'static str],
}

/// A token without `room` before G3: the 0.12 plugin's error crashes the
/// SASL reply, so the client is just disconnected.
const MISSING_ROOM_BEFORE_G3: Rejection = Rejection {
    condition: "not-allowed",
    text: "'room' claim is missing",
    answered: false,
};

/// Every generation, oldest first.
pub static GENERATIONS: [Generation; 3] = [
    Generation {
        name: "G1",
        since: None,
        jwks: false,
        sub_required: None,
        missing_room: MISSING_ROOM_BEFORE_G3,
        exp_detail: false,
        room_lookup: false,
        marker: Marker {
            jwk_lib: false,
            util_contains: &[],
        },
    },
    Generation {
        name: "G2",
        since: Some("2025-11"),
        jwks: true,
        sub_required: None,
        missing_room: MISSING_ROOM_BEFORE_G3,
        exp_detail: false,
        room_lookup: true,
        marker: Marker {
            jwk_lib: true,
            util_contains: &["token/jwk"],
        },
    },
    Generation {
        name: "G3",
        since: Some("2026-05"),
        jwks: true,
        sub_required: Some(Rejection {
            condition: "not-authorized",
            text: "sub claim is missing",
            answered: true,
        }),
        missing_room: Rejection {
            condition: "not-authorized",
            text: "room claim is missing",
            answered: true,
        },
        exp_detail: true,
        room_lookup: true,
        marker: Marker {
            jwk_lib: true,
            util_contains: &["token/jwk", "sub claim is missing"],
        },
    },
];

impl Generation {
    /// The newest generation known.
    pub fn newest() -> &'static Generation {
        &GENERATIONS[GENERATIONS.len() - 1]
    }

    /// The generation upstream had in `month` (`YYYY-MM`).
    pub fn at(month: &str) -> Result<&'static Generation, String> {
        let ok = month.len() == 7
            && month.as_bytes()[4] == b'-'
            && month[..4].bytes().all(|b| b.is_ascii_digit())
            && matches!(month[5..].parse::<u8>(), Ok(1..=12));
        if !ok {
            return Err(format!(
                "{month:?} is not a month: write YYYY-MM, e.g. 2025-10"
            ));
        }
        Ok(GENERATIONS
            .iter()
            .rev()
            .find(|g| g.since.is_none_or(|since| month >= since))
            .unwrap_or(&GENERATIONS[0]))
    }

    /// The generation after this one, if any.
    pub fn next(&self) -> Option<&'static Generation> {
        let i = GENERATIONS.iter().position(|g| g == self)?;
        GENERATIONS.get(i + 1)
    }

    /// `the Jitsi token plugin of 2026-05 and later (G3)`.
    pub fn describe(&self) -> String {
        match (self.since, self.next().and_then(|n| n.since)) {
            (None, Some(next)) => {
                format!("the Jitsi token plugin from before {next} ({})", self.name)
            }
            (Some(since), Some(next)) => format!(
                "the Jitsi token plugin of {since} to before {next} ({})",
                self.name
            ),
            (Some(since), None) => {
                format!(
                    "the Jitsi token plugin of {since} and later ({})",
                    self.name
                )
            }
            (None, None) => format!("the Jitsi token plugin ({})", self.name),
        }
    }

    /// When the first generation that requires `sub` came in.
    pub fn sub_required_since() -> Option<&'static str> {
        GENERATIONS
            .iter()
            .find(|g| g.sub_required.is_some())
            .and_then(|g| g.since)
    }

    /// When `cache_keys_url` first took a JWKS.
    pub fn jwks_since() -> Option<&'static str> {
        GENERATIONS.iter().find(|g| g.jwks).and_then(|g| g.since)
    }
}

/// What [`detect`] found.
#[derive(Debug)]
pub struct Detected {
    /// The generation the installed files show.
    pub generation: &'static Generation,
    /// The `token/util.lib.lua` it was read from.
    pub file: PathBuf,
}

/// Why no generation could be detected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// `plugin_paths` is not set.
    #[error("plugin_paths is not set, so the installed token plugin cannot be found")]
    NoPluginPaths,
    /// No `token/util.lib.lua` under any of them.
    #[error("no token/util.lib.lua under plugin_paths ({})", .searched.join(", "))]
    NotFound {
        /// The folders searched.
        searched: Vec<String>,
    },
    /// The file is there but cannot be read.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Detects the generation from the token plugin installed under
/// `plugin_paths` (relative paths are taken from `base`, the config's
/// folder): the first folder holding `token/util.lib.lua` is the one Prosody
/// loads, and the newest generation whose markers it shows is the answer.
pub fn detect(plugin_paths: &[String], base: &Path) -> Result<Detected, DetectError> {
    if plugin_paths.is_empty() {
        return Err(DetectError::NoPluginPaths);
    }
    for dir in plugin_paths {
        let dir = base.join(dir);
        let util = dir.join("token/util.lib.lua");
        // A config names these folders: a FIFO there must not hang us.
        let text = match crate::prosody::config::file::read_regular(&util) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(DetectError::Unreadable {
                    path: util.display().to_string(),
                    reason: e.to_string(),
                })
            }
        };
        let jwk_lib = dir.join("token/jwk.lib.lua").is_file();
        let generation = GENERATIONS
            .iter()
            .rev()
            .find(|g| {
                (!g.marker.jwk_lib || jwk_lib)
                    && g.marker.util_contains.iter().all(|s| text.contains(s))
            })
            .unwrap_or(&GENERATIONS[0]);
        return Ok(Detected {
            generation,
            file: util,
        });
    }
    Err(DetectError::NotFound {
        searched: plugin_paths.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_pick_generations() {
        assert_eq!(Generation::at("2024-02").unwrap().name, "G1");
        assert_eq!(Generation::at("2025-10").unwrap().name, "G1");
        assert_eq!(Generation::at("2025-11").unwrap().name, "G2");
        assert_eq!(Generation::at("2026-04").unwrap().name, "G2");
        assert_eq!(Generation::at("2026-05").unwrap().name, "G3");
        assert_eq!(Generation::at("2030-01").unwrap().name, "G3");
        for bad in ["2025", "2025-13", "25-11", "2025/11", "next"] {
            assert!(
                Generation::at(bad).unwrap_err().contains("YYYY-MM"),
                "{bad}"
            );
        }
        assert_eq!(Generation::newest().name, "G3");
        assert_eq!(
            Generation::newest().describe(),
            "the Jitsi token plugin of 2026-05 and later (G3)"
        );
        assert_eq!(
            GENERATIONS[0].describe(),
            "the Jitsi token plugin from before 2025-11 (G1)"
        );
        assert_eq!(Generation::sub_required_since(), Some("2026-05"));
        assert_eq!(Generation::jwks_since(), Some("2025-11"));
    }

    #[test]
    fn installed_files_show_the_generation() {
        let t = tempfile::tempdir().unwrap();
        let plugins = t.path().join("plugins");
        std::fs::create_dir_all(plugins.join("token")).unwrap();
        let util = plugins.join("token/util.lib.lua");
        let paths = vec!["plugins".to_owned()];
        std::fs::write(&util, "-- marker file\n").unwrap();
        assert_eq!(detect(&paths, t.path()).unwrap().generation.name, "G1");
        std::fs::write(plugins.join("token/jwk.lib.lua"), "-- marker\n").unwrap();
        std::fs::write(&util, "local jwk = require \"token/jwk\";\n").unwrap();
        assert_eq!(detect(&paths, t.path()).unwrap().generation.name, "G2");
        std::fs::write(&util, "require \"token/jwk\" -- sub claim is missing\n").unwrap();
        let d = detect(&paths, t.path()).unwrap();
        assert_eq!((d.generation.name, d.file), ("G3", util));
        assert_eq!(
            detect(&[], t.path()).unwrap_err(),
            DetectError::NoPluginPaths
        );
        assert!(matches!(
            detect(&["nowhere".into()], t.path()),
            Err(DetectError::NotFound { .. })
        ));
    }
}
