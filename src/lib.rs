//! asap-keyserver: a public-key server and token minter for Jitsi Meet
//! (Prosody's `asap_key_server`) and other ASAP consumers.
//!
//! Prosody takes the `kid` from a token header and fetches
//! `<asap_key_server>/<lowercase hex sha256(kid)>.pem`, caching the answer by
//! kid forever. This crate serves a watched directory of key files at exactly
//! those paths, always as SPKI public keys, mints tokens Prosody accepts, and
//! says in words why Prosody would reject one.
//!
//! # Layout
//! This list is the one module map of the project; open the folder that
//! does what you are after.
//!
//! - [`kid`]: kid rules, file path → kid, kid → `<sha256>.pem` and back,
//!   the kids the server's own routes would shadow, and `servable`: the one
//!   rule of a kid `serve` serves, which `keygen`, `rotate` and `mint --kid`
//!   apply too.
//! - `routes`: the one route table: every path `serve` answers is a
//!   `Route`, matched once (base path included); the reserved kids, the
//!   metric labels, the login bridge's redirect URI and cookie path are
//!   derived from it. It imports nothing of the crate, so `kid`, `keydir`,
//!   `token` and `serve` all read it.
//! - [`keys`]: RSA key material: PEM decoding to the public half, key
//!   generation, safe 0600 writes, the one safe read (non-blocking, regular
//!   files only, size-capped; stdin capped) of every input, `trust` (the
//!   system's CAs plus a CA file, for every outgoing HTTPS: the checks and
//!   the login bridge's IdP client), [`keys::KeyError`].
//! - [`keydir`]: the key directory: [`keydir::Scanner`] walks it into an
//!   immutable [`keydir::KeySet`] (served keys, JWKS, skipped files), in
//!   `scan/` one child per step (`walk`, `examine` one file, `record` and
//!   log); `age` (which key is the newest: the one rule `mint --issuer`,
//!   `rotate` and `prune` follow; the clock in seconds), `keygen` (keygen,
//!   rotate, prune) and `export` (static files). Keys know bytes and
//!   times, never HTTP.
//! - [`serve`]: everything `serve` runs: the `serve::KeyStore` swapped on
//!   reload, the watcher, the pure request handler (`handler`, no I/O) and
//!   the accept loops around it (`server`), the headers made from a key's
//!   fingerprint and times, metrics, TLS, and `service`: the async glue
//!   that reads request bodies for the token service's routes (`/mint`,
//!   `/oidc/*`) and writes its replies, asked before the handler.
//! - [`token`]: typed Jitsi/JaaS/ASAP claims, the Minter that signs them,
//!   `choice` (the one rule choosing the signing key: newest of an issuer,
//!   in the directory for `min_key_age`), and `service`, the token service
//!   of `serve --config`: its TOML `config` (and `config/toml_error`, the
//!   parse errors that never show the text), the `signer` over the live key
//!   set, the mint API (`api`), the one `refusal` type (a page or JSON) and
//!   `response` (answers as `http::Response`), and the OpenID Connect login
//!   bridge (`oidc/`: the flow in `auth`, `callback`, `logout`; `idp` the
//!   seam the flow asks, `provider` the IdP client over `http` (ureq),
//!   `cookie` the sealed login state, `replay` the used login states,
//!   `jitsi` Jitsi's state and the return URL, `pages`). No server sockets:
//!   only the bridge's blocking calls to the IdP, which `serve` runs in
//!   `spawn_blocking`.
//! - [`check`]: one [`check::Diagnostic`] type for `verify` (Prosody's token
//!   checks as data) and `doctor`; the table of causes (`causes`: what
//!   Prosody says when it refuses, why, the fix) that `verify`, `login` and
//!   `explain` share; the token plugin's generations as a table
//!   (`generation`), the key source (`asap_key_server`, the JWKS at
//!   `cache_keys_url`, a directory, a file), the Prosody-faithful fetch,
//!   `login`, an XMPP client (WebSocket, BOSH) that asks the real Prosody
//!   one protocol step at a time, from a meeting URL as Jitsi's client
//!   reads it, and explains its refusals, and `explain`, which reads
//!   Prosody's own log (file, docker, journalctl) and groups its token
//!   failures by cause.
//! - [`prosody`]: reading a real Prosody `*.cfg.lua` (evaluated in a Lua
//!   sandbox) and the lines to paste into it.
//! - `error`: the errors that stop a command, naming the file or kid and
//!   the fix; `escape_controls` and `shown`, which keep a name on one line
//!   in any log, row or finding.
//! - [`cli`]: clap definitions of the subcommands and their flags, by what
//!   the commands do (serve, the key directory, checks) and value parsers.
//! - [`cmd`]: the subcommands, turning checked flags into work and output,
//!   and the exit codes; `verify` and `login` read Prosody's settings in
//!   one place (`cmd/prosody.rs`).
//!
//! Dependencies point down this list's spirit: `cmd` uses everything;
//! `check` uses `keydir`, `keys` and `prosody` (and `serve` for the name of
//! the header it reads, `token` for `doctor --config`); `serve` and `token` use
//! `keydir` (and `serve` uses `token` for the token service); `keydir` uses `keys`, `kid` and `error`; `prosody` uses `keys`
//! (its safe read); `error` uses only `keys` and `kid`, so every other
//! module may use it; no two top-level modules import each other.

// Lints (unsafe_code forbidden, missing_docs denied, clippy) are set once,
// for every target, in Cargo.toml's [lints].

pub mod check;
pub mod cli;
pub mod cmd;
mod error;
pub mod keydir;
pub mod keys;
pub mod kid;
pub mod prosody;
mod routes;
pub mod serve;
pub mod token;
