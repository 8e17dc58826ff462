//! `asap-keyserver serve`: check the flags, make sure there is a key,
//! then run the watcher and the HTTP server until SIGTERM or Ctrl-C.

use crate::check::fetch;
use crate::check::generation::Generation;
use crate::cli::ServeArgs;
use crate::error::Error;
use crate::keydir::{keygen, Scanner};
use crate::kid;
use crate::serve::{server, tls, watch, HttpConfig, KeyStore};
use crate::token::service::{Service, ServiceConfig};
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

/// Validated settings of `serve`.
struct ServeConfig {
    keys: PathBuf,
    listen: std::net::SocketAddr,
    /// `--health-listen`: probes only, in a lane of their own.
    health_listen: Option<std::net::SocketAddr>,
    watch: watch::Mode,
    init: bool,
    http: HttpConfig,
    tls: Option<tls::TlsFiles>,
    accept_loops: usize,
    /// The token service's config file (`--config`).
    service: Option<PathBuf>,
}

impl TryFrom<ServeArgs> for ServeConfig {
    type Error = anyhow::Error;

    fn try_from(a: ServeArgs) -> anyhow::Result<Self> {
        if let Some(p) = a.poll_interval {
            anyhow::ensure!(
                p >= Duration::from_millis(10),
                "--poll-interval {p:?} is too short: use 10ms or more"
            );
        }
        anyhow::ensure!(
            !a.header_timeout.is_zero(),
            "--header-timeout must be more than 0s"
        );
        anyhow::ensure!(
            a.max_connections != Some(0),
            "--max-connections must be at least 1"
        );
        anyhow::ensure!(
            !a.body_timeout.is_zero(),
            "--body-timeout must be more than 0s"
        );
        anyhow::ensure!(
            !a.send_timeout.is_zero(),
            "--send-timeout must be more than 0s"
        );
        for (flag, value) in [("--base-path", &a.base_path), ("--jwks-path", &a.jwks_path)] {
            anyhow::ensure!(
                value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c)),
                "{flag} {value:?}: use a plain URL path like /keys"
            );
        }
        anyhow::ensure!(
            !a.jwks_path.trim_matches('/').is_empty(),
            "--jwks-path must not be empty"
        );
        Ok(ServeConfig {
            keys: a.dir.path,
            listen: a.listen,
            health_listen: a.health_listen,
            watch: a
                .poll_interval
                .map_or(watch::Mode::Notify, watch::Mode::Poll),
            init: !a.no_init,
            http: HttpConfig {
                cache_max_age: a.cache_max_age,
                jwks_max_age: a.jwks_max_age,
                header_timeout: a.header_timeout,
                body_timeout: a.body_timeout,
                send_timeout: a.send_timeout,
                max_connections: connection_limit(a.max_connections),
                base_path: a.base_path,
                jwks_path: a.jwks_path,
                ..HttpConfig::default()
            },
            accept_loops: a.accept_loops.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .min(16)
            }),
            service: a.config,
            tls: a
                .tls_cert
                .zip(a.tls_key)
                .map(|(cert, key)| tls::TlsFiles { cert, key }),
        })
    }
}

pub(super) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = ServeConfig::try_from(args)?;
    // Before anything binds: a bad token service config stops here (exit 2).
    let service = config
        .service
        .as_deref()
        .map(ServiceConfig::load)
        .transpose()?
        .map(|c| Arc::new(Service::new(c, &config.http.routes())));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(config, service));
    // A rescan stuck in the kernel (a dead NFS server) must not keep a
    // stopped server alive.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: ServeConfig, service: Option<Arc<Service>>) -> anyhow::Result<()> {
    // Before anything is announced, so a SIGHUP never meets the default action.
    let hup_signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot handle SIGHUP")?;
    let dir = &config.keys;
    if !dir.exists() {
        if !config.init {
            return Err(Error::KeyDirMissing { path: dir.clone() }.into());
        }
        std::fs::create_dir_all(dir).map_err(|source| Error::KeyDirUnreadable {
            path: dir.clone(),
            source,
        })?;
        info!(dir = %dir.display(), "created key directory");
    }
    let mut scanner = Scanner::new(dir).reserving(&config.http.jwks_path);
    // A kid at one of the server's paths (the token service's too) is
    // skipped with the reason, never silently shadowed: from the route table.
    let routes = config.http.routes().with_service(
        service.as_ref().is_some_and(|s| s.mint.is_some()),
        service.as_ref().is_some_and(|s| s.oidc.is_some()),
    );
    for route in routes.reserved_kids() {
        scanner = scanner.reserving_route(&route);
    }
    let mut set = scanner.scan()?.unwrap_or_default();
    let mut created = None;
    if set.is_empty() && config.init {
        let key = keygen::create_first(dir)?;
        info!(kid = %key.kid, path = %key.path.display(), url_path = %format!("/{}", key.url_path),
            "no key found: created a 2048-bit RSA signing key (mode 0600)");
        set = scanner.scan()?.unwrap_or_default();
        created = Some(key.kid);
    }
    let store = Arc::new(KeyStore::new());
    store.reloads().set_full_walks(scanner.full_walks());
    let key_count = set.len();
    store.store(set);

    let tls = config.tls.clone().map(tls::TlsState::new).transpose()?;
    let listeners =
        server::bind_reuseport(config.listen, config.accept_loops).map_err(|source| {
            Error::Bind {
                addr: config.listen,
                source,
            }
        })?;
    let local = listeners[0]
        .local_addr()
        .context("cannot read the bound address")?;
    let health = config
        .health_listen
        .map(|addr| {
            let bound = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .and_then(tokio::net::TcpListener::from_std);
            bound.map_err(|source| Error::Bind { addr, source })
        })
        .transpose()?;
    if let Some(h) = &health {
        let at = h.local_addr().context("cannot read the bound address")?;
        info!(addr = %at, "health checks also on http://{at}/healthz and /readyz (--health-listen), in a lane of their own");
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!(addr = %local, keys = key_count, dir = %dir.display(), "listening on {scheme}://{local}");
    let urls = Urls::new(scheme, local, &config.http);
    let since = Generation::jwks_since().unwrap_or("a later version");
    let refresh =
        fetch::prosody_refresh_secs(Some(&format!("max-age={}", config.http.jwks_max_age)));
    info!(asap_key_server = %urls.base,
        "Prosody set-up 1, any Jitsi token plugin: asap_key_server = \"{}\"; \
         each key is cached by kid until Prosody restarts, so rotate with a new kid{}",
        urls.base,
        urls.host_note);
    let keys = store.load().len();
    let cache_keys_url = crate::prosody::cache_keys_url(&urls.jwks, keys);
    info!(cache_keys_url = %cache_keys_url,
        "Prosody set-up 2, token plugin {since} or later: add cache_keys_url = \"{cache_keys_url}\"; \
         Prosody reads it every {refresh} s, so a key replaced under its kid is live within {refresh} s \
         and a removed kid stops within {refresh} s + 90 min");
    if cache_keys_url != urls.jwks {
        info!(keys,
            "that is the bounded JWKS, the newest 2 keys of each issuer: Prosody converts every JWKS key \
             at every refresh (about {} ms each, {keys} keys here) and logs nobody in meanwhile; \
             a kid outside it still logs in through asap_key_server while its file exists \
             (delete the file to stop new fetches; a Prosody that already fetched it keeps it until restart)",
            crate::prosody::MS_PER_JWKS_KEY);
    }
    if let Some(kid) = created {
        print_first_run_help(&kid, &urls);
    }

    let (stop_watch, watch_stopped) = tokio::sync::oneshot::channel::<()>();
    let (full_rescan, full_rescans) = tokio::sync::mpsc::channel::<()>(1);
    let hup = tokio::spawn(on_sighup(hup_signal, full_rescan, tls.clone()));
    let watcher = tokio::spawn(watch::run(
        scanner,
        Arc::clone(&store),
        config.watch,
        full_rescans,
        async {
            let _ = watch_stopped.await;
        },
    ));
    let (stop_tls, tls_stopped) = tokio::sync::oneshot::channel::<()>();
    let tls_watcher = tls.clone().map(|t| {
        tokio::spawn(t.watch(std::time::Duration::from_secs(1), async {
            let _ = tls_stopped.await;
        }))
    });
    if let Some(s) = &service {
        info!(config = %s.file.display(), mint_api = s.mint.is_some(), login_bridge = s.oidc.is_some(),
            min_key_age = %humantime::format_duration(s.signer.min_key_age()), "token service on");
        if let Some(bridge) = &s.oidc {
            bridge.prepare_in_background();
        }
    }
    server::run(
        listeners,
        health,
        store,
        config.http,
        tls,
        service,
        shutdown_signal(),
    )
    .await;
    hup.abort();
    let _ = stop_watch.send(());
    let _ = stop_tls.send(());
    let _ = watcher.await;
    if let Some(t) = tls_watcher {
        let _ = t.await;
    }
    info!("stopped");
    Ok(())
}

/// File descriptors kept free of connections: the watcher, a rescan's
/// directory walk and open key files, TLS files, logs, and the few
/// connections open over the limit (`server::OVER_FDS`: those read, those
/// waiting, health probes), and those of `--health-listen`.
const FD_HEADROOM: u64 = 64;

/// The connection bound: `--max-connections` (4096 by default), but never
/// more than what the open-file limit leaves after [`FD_HEADROOM`], once
/// the soft limit is raised to the hard one (as nginx and systemd-run
/// daemons do). Without it, idle clients can take every descriptor:
/// `accept` fails with EMFILE, no probe gets in, and rescans fail with
/// "Too many open files".
fn connection_limit(asked: Option<usize>) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = raised;
        }
    }
    let fd_bound = limit.current.map_or(usize::MAX, |n| {
        usize::try_from(n.saturating_sub(FD_HEADROOM).max(1)).unwrap_or(usize::MAX)
    });
    let wanted = asked.unwrap_or(4096);
    let bound = wanted.min(fd_bound);
    if bound < wanted {
        tracing::warn!(open_files = ?limit.current, max_connections = bound, asked = wanted,
            "the open-file limit is low: at most {bound} connections, {FD_HEADROOM} \
                file descriptors kept for health probes, rescans and watches (raise LimitNOFILE / ulimit -n)");
    } else {
        tracing::info!(open_files = ?limit.current, max_connections = bound,
            "at most {bound} connections; {FD_HEADROOM} file descriptors kept for health probes, rescans and watches");
    }
    bound
}

/// Where Prosody finds this server: the `asap_key_server` base and the JWKS.
struct Urls {
    base: String,
    jwks: String,
    /// What `<host>` in them stands for, when the server listens on all
    /// addresses (empty otherwise).
    host_note: &'static str,
}

impl Urls {
    fn new(scheme: &str, addr: std::net::SocketAddr, http: &HttpConfig) -> Urls {
        let prefix = http.base_path.trim_matches('/');
        // 0.0.0.0 is where it listens, never a name Prosody can reach it by
        // (in a container: its service name, e.g. asap-keyserver).
        let (host, host_note) = if addr.ip().is_unspecified() {
            (
                format!("<host>:{}", addr.port()),
                "; <host> is the name Prosody reaches this server by",
            )
        } else {
            (addr.to_string(), "")
        };
        let base = if prefix.is_empty() {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}/{prefix}")
        };
        let jwks = format!("{base}/{}", http.jwks_path.trim_start_matches('/'));
        Urls {
            base,
            jwks,
            host_note,
        }
    }
}

fn print_first_run_help(kid: &str, urls: &Urls) {
    let issuer = kid::issuer(kid);
    eprintln!(
        "\nPoint Prosody's token VirtualHost at this server (no trailing slash).\n\
         \nAny Jitsi token plugin:\n{}\n\
         Token plugin {} or later (docker-jitsi-meet and the Debian packages since then) also reads\n\
         the JWKS, so a key replaced under its kid is picked up without restarting Prosody:\n{}\n\
         Tokens must carry the header kid \"{kid}\"; Prosody will fetch {}/{}\n\
         Mint one:  asap-keyserver mint --kid {kid} --room <room>\n",
        crate::prosody::config_lines(issuer, &urls.base),
        Generation::jwks_since().unwrap_or("a later version"),
        crate::prosody::config_lines_with_jwks_at(issuer, &urls.base, &urls.jwks),
        urls.base,
        kid::prosody_path(kid)
    );
}

/// SIGHUP, as nginx users expect: rescan every key file and reload the TLS
/// certificate, instead of the default (the process dies).
async fn on_sighup(
    mut hup: tokio::signal::unix::Signal,
    full_rescan: tokio::sync::mpsc::Sender<()>,
    tls: Option<Arc<tls::TlsState>>,
) {
    while hup.recv().await.is_some() {
        info!("received SIGHUP: rescanning the key directory and reloading TLS");
        let _ = full_rescan.try_send(());
        if let Some(t) = &tls {
            let t = Arc::clone(t);
            let _ = tokio::task::spawn_blocking(move || t.reload()).await;
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("received SIGINT"),
        () = term => info!("received SIGTERM"),
    }
}
