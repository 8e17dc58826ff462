//! The key directory watched: what `serve` serves follows the files at
//! once (drops, replacements, renames, deletions, whole folders, Kubernetes
//! swaps), looking again only at what changed, never losing a watch, never
//! serving a removed key, under churn, overflow and adversity.

mod churn;
mod files;
mod hardening;
mod incremental;
mod overflow;
mod races;
mod random;
mod reload;
mod revocation;
