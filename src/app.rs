//! Wiring: from parsed flags to a running exporter.
//!
//! Loads and checks the configuration (exit code 2 on any problem, before anything is served),
//! starts one poller per org, serves HTTP, and shuts everything down on SIGTERM or SIGINT.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntGaugeVec, Opts, Registry};
use tokio::sync::watch;

use crate::cli::{Cli, Command, OrgArgs, ReportArgs};
use crate::config::{Config, KeepAliveToken, Loaded, SingleOrgCredential, Sources};
use crate::secret::Secret;
use crate::server::{self, App};
use crate::snapshot::{OrgSnapshot, Snapshots};
use crate::web::WebConfigFile;
use okta_simulator::Simulator;

/// How often the demo polls its simulated org unless told otherwise: often enough to see values move.
const DEMO_POLL_INTERVAL: Duration = Duration::from_secs(15);

/// The demo token the demo keeps alive ("Quarterly access review").
pub const DEMO_KEPT_ALIVE: &str = "00Tdemo0000000000006";

/// How a command that did not succeed ends: the one place that turns it into an exit code.
#[derive(Debug)]
enum Exit {
    /// What the user gave is wrong (configuration, a key, a password): said on stderr after
    /// `who`, exit 2.
    Usage { who: &'static str, message: String },
    /// Running failed, said on stderr (the commands that print rather than log): exit 1.
    Failed(String),
    /// Running failed, already logged: exit 1.
    Logged,
    /// The command chose its code (`report --fail-on`).
    Code(u8),
}

impl Exit {
    fn usage(error: impl std::fmt::Display) -> Exit {
        Exit::Usage {
            who: "okta-token-exporter",
            message: error.to_string(),
        }
    }
}

/// The exit code of a command's result, saying on stderr what is to be said.
fn exit_code(result: Result<(), Exit>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Exit::Usage { who, message }) => {
            eprintln!("{who}: {message}");
            ExitCode::from(2)
        }
        Err(Exit::Failed(message)) => {
            eprintln!("okta-token-exporter: {message}");
            ExitCode::FAILURE
        }
        Err(Exit::Logged) => ExitCode::FAILURE,
        Err(Exit::Code(code)) => ExitCode::from(code),
    }
}

/// Runs the command line to completion.
pub fn run(cli: Cli) -> ExitCode {
    crate::allocator::tune();
    match &cli.command {
        // A report prints what it found; its polls log only when asked to.
        Some(Command::Report(args)) => {
            if let Some(level) = args.log_level {
                crate::logging::init(level, crate::logging::LogFormat::Logfmt);
            }
        }
        _ => crate::logging::init(cli.log().level, cli.log().format),
    }
    let result = match &cli.command {
        Some(Command::Keygen { out, kid }) => keygen_command(out, kid.as_deref()),
        Some(Command::HashPassword { cost }) => crate::password::hash_from_terminal_or_stdin(*cost)
            .map_err(Exit::usage)
            .and_then(|hash| print_output(&hash)),
        Some(Command::Jwk { key, kid }) => crate::config::read_private_key_file(key)
            .map_err(Exit::usage)
            .and_then(|key| print_output(&public_jwk(&key, kid.as_deref()))),
        Some(Command::Report(args)) => runtime().and_then(|rt| rt.block_on(report(args))),
        Some(Command::Demo(_)) | None => runtime().and_then(|rt| rt.block_on(start(&cli))),
    };
    exit_code(result)
}

fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            tracing::error!(error = %e, "cannot start the async runtime");
            Exit::Logged
        })
}

/// `keygen`: the key file, and the public key to register on stdout.
fn keygen_command(out: &std::path::Path, kid: Option<&str>) -> Result<(), Exit> {
    let jwk = keygen(out, kid).map_err(|e| Exit::Failed(e.to_string()))?;
    print_output(&jwk)?;
    eprintln!(
        "wrote the private key to {}; register the public key above on the app in Okta",
        out.display()
    );
    Ok(())
}

/// The exporter (or the demo): the configuration, checked (`--config.check` stops there), then
/// served.
async fn start(cli: &Cli) -> Result<(), Exit> {
    let Loaded { config, notes } = match &cli.command {
        Some(Command::Demo(_)) => start_demo(&sources(cli)).await.map_err(|e| {
            tracing::error!(error = %e, "cannot start the demo");
            Exit::Logged
        })?,
        _ => crate::config::load(&sources(cli)).map_err(Exit::usage)?,
    };
    let web = match cli.web().web_config_file.as_deref() {
        None => None,
        Some(path) => Some(Arc::new(WebConfigFile::load(path).map_err(Exit::usage)?)),
    };
    if cli.okta.config_check {
        for note in &notes {
            println!("note: {note}");
        }
        let kept: usize = config.orgs.iter().map(|o| o.keepalive.len()).sum();
        println!(
            "configuration OK: {} org(s), polled every {}{}{}",
            config.orgs.len(),
            humantime::format_duration(config.poll_interval),
            match kept {
                0 => String::new(),
                1 => ", 1 token kept alive".to_owned(),
                n => format!(", {n} tokens kept alive"),
            },
            if web.is_some() { "; web config OK" } else { "" }
        );
        return Ok(());
    }
    for note in &notes {
        tracing::info!("{note}");
    }
    serve(cli, config, web).await
}

/// Prints a command's result on stdout. A reader that closed the pipe early (`| head`) took what
/// it wanted: that is not worth a panic.
/// One line of a command's output (a hash, a key) on stdout.
fn print_output(text: &str) -> Result<(), Exit> {
    crate::stdout::write_all(format!("{text}\n").as_bytes())
        .map_err(|e| Exit::Failed(format!("cannot write to standard output: {e}")))
}

/// What the command line says about the configuration, for [`crate::config::load`].
fn sources(cli: &Cli) -> Sources<'_> {
    Sources {
        poll_interval: cli.poll_interval(),
        storage_path: cli.storage_path(),
        ..org_sources(&cli.okta.orgs)
    }
}

/// The orgs the flags name: a config file, or one org and its credential.
fn org_sources(orgs: &OrgArgs) -> Sources<'_> {
    let single_org = orgs.org_url.as_deref().map(|url| {
        let credential = match &orgs.client_id {
            Some(client_id) => SingleOrgCredential::OAuth2 {
                client_id,
                private_key_file: orgs.private_key_file.as_deref(),
                key_id: orgs.key_id.as_deref(),
                scopes: &orgs.scopes,
            },
            None => SingleOrgCredential::Ssws {
                token_file: orgs.token_file.as_deref(),
            },
        };
        (url, credential, orgs.org_name.as_deref())
    });
    Sources {
        file: orgs.config_file.as_deref(),
        single_org,
        poll_interval: None,
        storage_path: None,
    }
}

/// `report`: the configuration (or the demo org), one poll of each org, the printed table.
async fn report(args: &ReportArgs) -> Result<(), Exit> {
    let usage = |e: &dyn std::fmt::Display| Exit::Usage {
        who: "okta-token-exporter report",
        message: e.to_string(),
    };
    let loaded = if args.demo {
        start_demo(&org_sources(&args.orgs)).await
    } else {
        crate::config::load(&org_sources(&args.orgs)).map_err(DemoError::from)
    };
    let config = loaded.map_err(|e| usage(&e))?.config;
    let thresholds = crate::report::Thresholds {
        fail_on: args.fail_on,
        fail_on_finding: args.fail_on_finding,
    };
    match crate::report::run(config, args.format, thresholds).await {
        Ok(0) => Ok(()),
        Ok(code) => Err(Exit::Code(code)),
        Err(e) => Err(usage(&e)),
    }
}

/// Why `demo` (or `report --demo`) could not start, or a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error("cannot start the simulated Okta org: {0}")]
    Simulator(#[from] std::io::Error),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// Starts the simulated org on a loopback port and returns the configuration that polls it.
async fn start_demo(sources: &Sources<'_>) -> Result<Loaded, DemoError> {
    let api_token = Secret::new(format!("demo{:032x}", rand::random::<u128>()));
    let simulator = Simulator::start_demo(api_token.expose(), chrono::Utc::now()).await?;
    tracing::info!(url = %simulator.url(), "started the simulated Okta org");
    // The quarterly access review token is idle by design: the demo keeps it alive.
    let review = KeepAliveToken {
        token_id: DEMO_KEPT_ALIVE.to_owned(),
        secret: Secret::new(format!("demo{:032x}", rand::random::<u128>())),
        when_expires_within: crate::config::DEFAULT_KEEPALIVE_WITHIN,
        source: "the demo".to_owned(),
    };
    simulator.set_token_secret(&review.token_id, review.secret.expose());
    let loaded = crate::config::demo(
        &simulator.url(),
        api_token,
        vec![review],
        DEMO_POLL_INTERVAL,
        sources,
    )?;
    Ok(loaded)
}

async fn serve(cli: &Cli, config: Config, web: Option<Arc<WebConfigFile>>) -> Result<(), Exit> {
    let listener = match crate::web::listen(&cli.web().listen_address).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(address = %cli.web().listen_address, error = %e, "cannot listen; is another process using the port? Change it with --web.listen-address");
            return Err(Exit::Logged);
        }
    };
    let snapshots = Snapshots::new(
        config
            .orgs
            .iter()
            .map(|o| OrgSnapshot::new(&o.name, o.origin())),
    );
    let registry = match registry() {
        Ok(registry) => registry,
        Err(e) => {
            tracing::error!(error = %e, "cannot register metrics");
            return Err(Exit::Logged);
        }
    };
    let (stop, stopped) = watch::channel(false);
    let mut pollers = Vec::new();
    for (index, org) in config.orgs.iter().enumerate() {
        let setup = crate::poller::OrgSetup {
            org,
            config: &config,
            storage: config.storage_path.clone(),
            listed: None,
        };
        let poller = match setup.poller(snapshots.clone(), index) {
            Ok(poller) => poller,
            Err(e) => {
                tracing::error!(org = %org.name, error = %e, "cannot create the Okta client");
                return Err(Exit::Logged);
            }
        };
        pollers.push(tokio::spawn(poller.run(stopped.clone())));
    }
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| cli.web().listen_address.clone());
    let https = web.as_ref().is_some_and(|w| w.current().tls.is_some());
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        address = %local,
        scheme = if https { "https" } else { "http" },
        telemetry_path = %cli.web().telemetry_path,
        orgs = config.orgs.len(),
        poll_interval = %humantime::format_duration(config.poll_interval),
        "listening"
    );
    let app = Arc::new(App {
        registry,
        snapshots,
        labels: crate::metrics::LabelCache::new(),
        telemetry_path: cli.web().telemetry_path.clone(),
        web,
        options: cli.server_options(),
    });
    server::serve(listener, app, shutdown_signal()).await;
    let _ = stop.send(true);
    for poller in pollers {
        let _ = poller.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Writes a new P-256 private key (PKCS#8 PEM, mode 0600, never over an existing file) and
/// returns the public key as a JWK for Okta.
fn keygen(out: &std::path::Path, kid: Option<&str>) -> Result<String, KeygenError> {
    use std::io::Write;
    let pem = crate::jose::generate_p256_pem();
    let key = crate::jose::SigningKey::from_pem(&pem)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let write = |source| KeygenError::Write {
        path: out.to_owned(),
        source,
    };
    let mut file = options.open(out).map_err(write)?;
    file.write_all(pem.as_bytes()).map_err(write)?;
    Ok(public_jwk(&key, kid))
}

/// Why `keygen` made no key.
#[derive(Debug, thiserror::Error)]
enum KeygenError {
    #[error("cannot create {path} (an existing file is never overwritten): {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the new key is not usable: {0}")]
    Key(#[from] crate::jose::KeyError),
}

/// The public half of `key` as the JWK Okta takes: `use`, `alg` and the `kid` if given.
fn public_jwk(key: &crate::jose::SigningKey, kid: Option<&str>) -> String {
    let mut jwk = key.public_jwk();
    jwk["use"] = "sig".into();
    jwk["alg"] = key.alg().into();
    if let Some(kid) = kid {
        jwk["kid"] = kid.into();
    }
    serde_json::to_string_pretty(&jwk).expect("a JSON value serializes")
}

/// The exporter's own metrics: build info and process metrics. The org and token metrics are
/// rendered per scrape by `metrics::encode`.
pub fn registry() -> prometheus::Result<Registry> {
    let registry = Registry::new();
    let build_info = IntGaugeVec::new(
        Opts::new(
            "okta_exporter_build_info",
            "The exporter's version and git revision; always 1.",
        ),
        &["version", "revision"],
    )?;
    build_info
        .with_label_values(&[
            env!("CARGO_PKG_VERSION"),
            env!("OKTA_EXPORTER_BUILD_REVISION"),
        ])
        .set(1);
    registry.register(Box::new(build_info))?;
    #[cfg(target_os = "linux")]
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    Ok(registry)
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("received SIGINT; shutting down"),
        _ = terminate => tracing::info!("received SIGTERM; shutting down"),
    }
}
