//! Every integration test, in one crate (one link step on a 2-core
//! machine, as ripgrep's `tests/tests.rs`). Each module tests one behaviour
//! against the real binary on 127.0.0.1:0, real files and real peers;
//! `common` is the harness, split by concern.

mod common;

mod consumers;
mod deploy;
mod doctor;
mod exit_codes;
mod explain;
mod export;
mod faults;
mod hardening;
mod image;
mod inline_login;
mod jwks;
mod keygen;
mod lifecycle;
mod login;
mod mint;
mod mint_policy;
mod oidc;
mod oidc_debian;
mod oidc_idp;
mod package;
mod prosody_config;
mod routes;
mod serve;
mod slow_clients;
mod tls;
mod token_service;
mod verifiers;
mod verify;
mod watch;
