//! Why Prosody refused a login or a join: its own answer read through the
//! table of causes, and the offline checks of `verify` that bear on it.
//! Every pointer to checks is followed by those checks: where the settings
//! needed to check a cause were not given, its check says so itself.

use super::Target;
use crate::check::causes::{self, Cause, Check};
use crate::check::keysource::KeySource;
use crate::check::verify::{self, MucBase, Report as Checks, Settings};
use crate::check::{Diagnostic, Status};
use crate::prosody::config::Redactions;

/// What a refusal means, and the checks that show it.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The cause Prosody's answer names, if it names one.
    pub cause: Option<&'static Cause>,
    /// The offline checks that bear on it (never empty).
    pub checks: Vec<Diagnostic>,
}

/// Verify's checks of the token in `target` with Prosody's `settings`, for
/// the room joined, keys from `source`, at `now`; what `redactions` names
/// (the config's secrets) is not shown. With no key source and no JWKS,
/// the key and signature are not checked, which is not a failure of the
/// token.
pub fn offline_checks(
    target: &Target,
    mut settings: Settings,
    source: &KeySource,
    redactions: &Redactions,
    now: u64,
) -> Checks {
    settings.domain = Some(target.domain.clone());
    settings.tenant.clone_from(&target.tenant);
    settings.room.clone_from(&target.room);
    let unknown_key = matches!(source, KeySource::Unset) && settings.cache_keys_url.is_none();
    let mut report = verify::verify(&target.token, &settings, source, now);
    report.checks.iter_mut().for_each(|d| d.redact(redactions));
    if unknown_key {
        report.checks.retain(|d| d.check != Check::KeyUrl);
        for d in &mut report.checks {
            if d.check == Check::Key || d.check == Check::Signature {
                *d = Diagnostic::skip(
                    d.check.clone(),
                    "not checked: give --key-server URL (Prosody's asap_key_server) or --prosody-config",
                );
            }
        }
    }
    report
}

/// The checks of a room join: what `verify_room` looks at.
const JOIN_CHECKS: [Check; 3] = [Check::Room, Check::Sub, Check::RoomJoin];

/// Explains a refusal at `step` (`SASL` or `join`) with Prosody's text
/// `said`, from `checks` (verify's report for the same token and settings,
/// with the room joined); `muc_base` is what the checks knew of
/// `muc_mapper_domain_base`.
pub fn refusal(step: &str, said: Option<&str>, checks: &Checks, muc_base: &MucBase) -> Explained {
    let cause = said.and_then(causes::find);
    let join = step == "join";
    let mut out: Vec<Diagnostic> = checks
        .checks
        .iter()
        .filter(|d| {
            let at_join = JOIN_CHECKS.iter().any(|&c| d.check == c);
            let named = cause.is_some_and(|c| d.check == c.check);
            if join {
                at_join || d.status == Status::Fail
            } else {
                named || d.status == Status::Fail || d.only_if.is_some()
            }
        })
        .cloned()
        .collect();
    // Refused "Room and token mismatched" though nothing here fails: never
    // tick the claim the join refused.
    let mismatch = cause.is_some_and(|c| c.id == causes::ROOM_MISMATCH.id);
    if join && mismatch && !out.iter().any(|d| d.status == Status::Fail) {
        if let Some(sub) = out
            .iter_mut()
            .find(|d| d.check == Check::Sub && d.status == Status::Pass)
        {
            let why = match muc_base {
                MucBase::Set(base) => format!(
                    "the room accepted the room claim but refused the token: its sub is not matched under muc_mapper_domain_base \
                        {base:?} (a tenant room needs sub = the tenant or \"*\")"
                ),
                _ => "the room refused the token though its room claim names this room: the token plugin of 2024 \
                    matches sub \"*\" and tenants under muc_mapper_domain_base, and refuses them when it is not \
                    set; or sub names another domain".to_owned(),
            };
            *sub = Diagnostic::warn(Check::Sub, sub.seen.clone())
                .why(why)
                .fix("check muc_mapper_domain_base with asap-keyserver doctor --prosody-config, or mint with sub = the meeting's domain");
        }
    }
    if out.is_empty() {
        out.push(Diagnostic::skip(
            "checks",
            "the offline checks find nothing Prosody would refuse with the settings given: pass --prosody-config \
                (and --key-server) so that they check what this Prosody checks",
        ));
    }
    Explained { cause, checks: out }
}
