//! Lua's errors as [`ConfigError`]s, as they may be printed: where a
//! message says `file:line:`, a [`ConfigError::Syntax`] naming that file;
//! nothing read from a file (see `redact.rs`), no text of an included file,
//! no message without end.

use super::super::{ConfigError, Redactions};
use super::MEMORY_LIMIT;
use std::path::{Path, PathBuf};

/// Longest message of a failed config shown, in characters: `error(...)`
/// prints what the config computed.
const MAX_MESSAGE: usize = 200;

/// `e` as it may be printed: no text read from a file, no message longer
/// than [`MAX_MESSAGE`].
pub(super) fn shown(e: ConfigError, redactions: &Redactions) -> ConfigError {
    let mut redactions = redactions.clone();
    let mut cut = |text: String| {
        // `error(FileLine(f):sub(2))`: the message is made from a file.
        redactions.derived(&text);
        let text = redactions.scrub(&text);
        match text.char_indices().nth(MAX_MESSAGE) {
            Some((at, _)) => format!("{}…", &text[..at]),
            None => text,
        }
    };
    match e {
        ConfigError::Syntax { path, line, what } => ConfigError::Syntax {
            path,
            line,
            what: cut(what),
        },
        ConfigError::Lua { path, message } => ConfigError::Lua {
            path,
            message: cut(message),
        },
        other => other,
    }
}

/// The innermost message of a Lua error, as Prosody would print it.
pub(super) fn lua_to_config_error(path: &Path, e: &mlua::Error) -> ConfigError {
    match e {
        mlua::Error::CallbackError { cause, .. } => lua_to_config_error(path, cause),
        mlua::Error::WithContext { cause, .. } => lua_to_config_error(path, cause),
        mlua::Error::SyntaxError { message, .. } => match syntax_error(path, message) {
            // Lua quotes the text where it stopped ("near 'root'"): for a
            // file the config included (`Include "/etc/shadow"`), that is
            // a piece of a file nobody asked to see; for the config itself
            // it may be a secret given by mistake (`--prosody-config
            // client.secret`: "malformed number near '3f9a…'"). The line
            // says where; the text is never shown (`<eof>` is no text).
            ConfigError::Syntax {
                path: file,
                line,
                what,
            } => {
                let what = match what.split_once(" near ") {
                    Some((said, near)) if near != "<eof>" => {
                        let whose = if file == path {
                            "the text is not shown"
                        } else {
                            "the text of an included file is not shown"
                        };
                        format!("{said} ({whose})")
                    }
                    _ => what,
                };
                ConfigError::Syntax {
                    path: file,
                    line,
                    what,
                }
            }
            other => other,
        },
        mlua::Error::RuntimeError(message) => syntax_error(path, message),
        mlua::Error::MemoryError(_) => ConfigError::Lua {
            path: path.to_owned(),
            message: format!(
                "the config uses more than {} MiB of memory",
                MEMORY_LIMIT >> 20
            ),
        },
        other => ConfigError::Lua {
            path: path.to_owned(),
            message: other.to_string(),
        },
    }
}

/// `file:LINE: what` as [`ConfigError::Syntax`] when the message says where;
/// anything else as [`ConfigError::Lua`].
fn syntax_error(path: &Path, message: &str) -> ConfigError {
    let first = message.lines().next().unwrap_or(message);
    // "<file>:<line>: <what>", the file being the main config or an included one.
    let located = first
        .rsplit_once(".lua:")
        .map(|(f, r)| (format!("{f}.lua"), r));
    let parsed = first
        .split_once(':')
        .and_then(|(file, rest)| {
            let (line, what) = rest.split_once(": ")?;
            Some((
                PathBuf::from(file),
                line.parse::<usize>().ok()?,
                what.to_owned(),
            ))
        })
        .or_else(|| {
            let (file, rest) = located?;
            let (line, what) = rest.split_once(": ")?;
            Some((
                PathBuf::from(file),
                line.parse::<usize>().ok()?,
                what.to_owned(),
            ))
        });
    match parsed {
        Some((file, line, what)) => ConfigError::Syntax {
            path: file,
            line,
            what,
        },
        None => ConfigError::Lua {
            path: path.to_owned(),
            message: first.to_owned(),
        },
    }
}
