//! The command line: `okta-token-exporter [FLAGS]` serves, `okta-token-exporter demo` runs the
//! exporter against a built-in simulated Okta org.
//!
//! Flag names follow the Prometheus exporters' conventions (`--web.listen-address`,
//! `--config.file`, `--log.level`, …).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::logging::{LogFormat, LogLevel};
use crate::report::{FailOn, FailOnFinding, ReportFormat};
use crate::web::{AllowedHosts, ConnectionLimits};

const ABOUT: &str = "Prometheus exporter that warns before Okta API tokens lapse.";
const LONG_ABOUT: &str = "\
Prometheus exporter that warns before Okta API tokens lapse.

An Okta API token stays valid for its tokenWindow (30 days by default) after its last use; a token
nobody used for a window is revoked for good. This exporter polls the metadata of every API token
of one or more Okta orgs (GET /api/v1/api-tokens) and exposes expiry, time to expiry, last use and
the admin console's colour (green, gray, red, yellow) for Prometheus to scrape.

Configure orgs with --config.file, or one org with --okta.org-url and --okta.token-file (or the
OKTA_API_TOKEN environment variable). Try it without Okta: okta-token-exporter demo";

#[derive(Debug, Parser)]
#[command(name = "okta-token-exporter", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub okta: OktaArgs,

    #[command(flatten)]
    pub web: WebArgs,

    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the exporter against a built-in simulated Okta org (no Okta account needed).
    Demo(DemoArgs),
    /// Poll every org once, print its tokens, and exit: 0 when no token is at the --fail-on
    /// colour, 1 when one is, 2 for a usage or configuration error, 3 when an org could not be
    /// polled (the others are still printed), 4 when a posture finding reaches
    /// --fail-on-finding, 5 when none does but some tokens' posture is unknown. For cron jobs,
    /// CI and audits.
    Report(ReportArgs),
    /// Hash a password with bcrypt for `basic_auth_users` in the --web.config.file: reads it from
    /// the terminal without echo, or from standard input when piped, and prints the hash.
    HashPassword {
        /// bcrypt's cost: each step doubles the time a check takes (4 to 31).
        #[arg(long = "cost", value_name = "COST", default_value_t = 10, value_parser = clap::value_parser!(u32).range(4..=31))]
        cost: u32,
    },
    /// Make a key pair for an OAuth 2.0 service app: writes the private key (PEM, P-256) and
    /// prints the public key as a JWK to paste into the app's settings in Okta.
    Keygen {
        /// Where to write the private key; refused if the file exists.
        #[arg(long = "out", value_name = "PATH")]
        out: PathBuf,
        /// The key id (`kid`) to put in the JWK; use the same as --okta.key-id / key_id.
        #[arg(long = "kid", value_name = "KID")]
        kid: Option<String>,
    },
    /// Print the public key of an existing private key (PEM, RSA or EC P-256) as a JWK, to
    /// register it on an OAuth 2.0 service app in Okta.
    Jwk {
        /// The private key file.
        #[arg(long = "key", value_name = "PATH")]
        key: PathBuf,
        /// The key id (`kid`) to put in the JWK.
        #[arg(long = "kid", value_name = "KID")]
        kid: Option<String>,
    },
}

/// What `report` takes: the orgs, as the exporter does, what to print and when to fail.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub orgs: OrgArgs,

    /// Poll the built-in simulated org instead of Okta (no Okta account needed).
    #[arg(long = "demo", conflicts_with_all = ["config_file", "org_url"])]
    pub demo: bool,

    /// How to print the tokens: a table for people, json or csv for programs.
    #[arg(long = "format", value_enum, default_value = "table")]
    pub format: ReportFormat,

    /// Exit 1 when a token is at or beyond this colour (red: expires within 7 days; yellow:
    /// also suspicious use; gray: also unused for 3 days); none never does.
    #[arg(long = "fail-on", value_enum, default_value = "red")]
    pub fail_on: FailOn,

    /// Exit 4 when a token has a posture finding of this severity or worse (high, medium, low);
    /// none never does. Exit 5 when none does but the owner roles of some tokens could not be
    /// read, so that an audit never passes on what it could not see.
    #[arg(long = "fail-on-finding", value_enum, default_value = "none")]
    pub fail_on_finding: FailOnFinding,

    /// Log the polls' events at or above this level on stderr [default: no log, only the report].
    #[arg(long = "log.level", value_enum)]
    pub log_level: Option<LogLevel>,
}

/// What `demo` takes: where and how to serve, and how often to poll its simulated org.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How often to poll the simulated org, e.g. 5s, 1m [default: 15s].
    #[arg(long = "okta.poll-interval", value_name = "DURATION", value_parser = parse_duration)]
    pub poll_interval: Option<Duration>,

    /// Directory for the demo org's state file (see --storage.path of the exporter).
    #[arg(long = "storage.path", value_name = "DIR")]
    pub storage_path: Option<PathBuf>,

    #[command(flatten)]
    pub web: WebArgs,

    #[command(flatten)]
    pub log: LogArgs,
}

impl Cli {
    /// The web flags of the command that runs: the exporter's or the demo's.
    pub fn web(&self) -> &WebArgs {
        match &self.command {
            Some(Command::Demo(demo)) => &demo.web,
            _ => &self.web,
        }
    }

    /// The log flags of the command that runs.
    pub fn log(&self) -> &LogArgs {
        match &self.command {
            Some(Command::Demo(demo)) => &demo.log,
            _ => &self.log,
        }
    }

    /// How the server of the command that runs treats connections and requests.
    pub fn server_options(&self) -> crate::server::ServerOptions {
        let demo = matches!(self.command, Some(Command::Demo(_)));
        let allowed_hosts = match &self.web().allowed_hosts {
            Some(names) => AllowedHosts::only(names),
            None if demo => AllowedHosts::loopback(),
            None => AllowedHosts::any(),
        };
        crate::server::ServerOptions {
            limits: self.web().connection_limits(),
            allowed_hosts,
        }
    }

    /// `--okta.poll-interval` of the command that runs.
    pub fn poll_interval(&self) -> Option<Duration> {
        match &self.command {
            Some(Command::Demo(demo)) => demo.poll_interval,
            _ => self.okta.poll_interval,
        }
    }

    /// `--storage.path` of the command that runs.
    pub fn storage_path(&self) -> Option<&std::path::Path> {
        match &self.command {
            Some(Command::Demo(demo)) => demo.storage_path.as_deref(),
            _ => self.okta.storage_path.as_deref(),
        }
    }
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Okta")]
pub struct OktaArgs {
    #[command(flatten)]
    pub orgs: OrgArgs,

    /// Validate the configuration (reading the token files) and exit: 0 when valid, 2 when not.
    #[arg(long = "config.check")]
    pub config_check: bool,

    /// Directory for each org's state file, so that a restart serves the last known tokens at
    /// once and counts tokens that lapsed meanwhile; wins over the config file's storage_path.
    #[arg(long = "storage.path", value_name = "DIR")]
    pub storage_path: Option<PathBuf>,

    /// How often to poll each org, e.g. 30s, 5m, 1h [default: 5m, or the config file's poll_interval].
    #[arg(long = "okta.poll-interval", value_name = "DURATION", value_parser = parse_duration)]
    pub poll_interval: Option<Duration>,
}

/// Which orgs to poll and how to authenticate: the exporter's and `report`'s.
#[derive(Debug, Args)]
#[command(next_help_heading = "Okta")]
pub struct OrgArgs {
    /// YAML file listing the orgs to poll and how to authenticate to each.
    #[arg(long = "config.file", value_name = "PATH")]
    pub config_file: Option<PathBuf>,

    /// The org to poll, without a config file, e.g. https://acme.okta.com.
    #[arg(
        long = "okta.org-url",
        value_name = "URL",
        conflicts_with = "config_file"
    )]
    pub org_url: Option<String>,

    /// File holding the API token for --okta.org-url. Without it, the OKTA_API_TOKEN environment
    /// variable is read.
    #[arg(long = "okta.token-file", value_name = "PATH", requires = "org_url")]
    pub token_file: Option<PathBuf>,

    /// Client ID of an OAuth 2.0 service app (API Services) for --okta.org-url; instead of an
    /// API token.
    #[arg(
        long = "okta.client-id",
        value_name = "ID",
        requires = "org_url",
        requires = "private_key_file",
        conflicts_with = "token_file"
    )]
    pub client_id: Option<String>,

    /// PEM private key (RSA, or EC P-256) registered on the --okta.client-id app.
    #[arg(
        long = "okta.private-key-file",
        value_name = "PATH",
        requires = "client_id"
    )]
    pub private_key_file: Option<PathBuf>,

    /// The key's `kid` as registered on the app; optional.
    #[arg(long = "okta.key-id", value_name = "KID", requires = "client_id")]
    pub key_id: Option<String>,

    /// A scope to request for the --okta.client-id app, repeated or comma-separated [default:
    /// okta.apiTokens.read, as in the config file]; okta.users.read adds owners, okta.logs.read
    /// the System Log (suspicious use, why a token left).
    #[arg(
        long = "okta.scope",
        value_name = "SCOPE",
        value_delimiter = ',',
        requires = "client_id"
    )]
    pub scopes: Vec<String>,

    /// The `org` label for --okta.org-url [default: the URL's host].
    #[arg(long = "okta.org-name", value_name = "NAME", requires = "org_url")]
    pub org_name: Option<String>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Web")]
pub struct WebArgs {
    /// Address to serve metrics on; ":PORT" listens on every interface.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDRESS",
        default_value = ":9871"
    )]
    pub listen_address: String,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// Web config file enabling TLS, client certificates, basic auth and response headers, in the
    /// format of Prometheus's exporter-toolkit. Re-read when it or a file it names changes.
    #[arg(long = "web.config.file", value_name = "PATH")]
    pub web_config_file: Option<PathBuf>,

    /// The most connections the server holds at once. When it is full, an idle connection (no
    /// request in progress) makes room for a new one; a new one is refused only when every
    /// connection serves a request.
    #[arg(
        long = "web.max-connections",
        value_name = "N",
        default_value_t = ConnectionLimits::DEFAULT_MAX,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..100_000)
    )]
    pub max_connections: usize,

    /// The most connections one client (IP address; an IPv6 /64) holds at once; more are refused.
    #[arg(
        long = "web.max-connections-per-peer",
        value_name = "N",
        default_value_t = ConnectionLimits::DEFAULT_PER_PEER,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..100_000)
    )]
    pub max_connections_per_peer: usize,

    /// How long a client may take to send its request headers, or to finish a TLS handshake,
    /// before its connection is closed; keep it well under the scrape timeout.
    #[arg(
        long = "web.header-timeout",
        value_name = "DURATION",
        default_value = "5s",
        value_parser = parse_header_timeout
    )]
    pub header_timeout: Duration,

    /// Answer only requests addressed (Host header) to one of these names or addresses, ports
    /// aside, comma-separated, so that a web page cannot reach the exporter through a name of
    /// its own (DNS rebinding); the health probes always answer. `*` allows any
    /// [default: any; for `demo`: localhost,127.0.0.1,::1].
    #[arg(
        long = "web.allowed-hosts",
        value_name = "HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Option<Vec<String>>,
}

impl WebArgs {
    /// The connection limits these flags give.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max: self.max_connections,
            per_peer: self.max_connections_per_peer.min(self.max_connections),
            header_timeout: self.header_timeout,
        }
    }
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Only log messages at or above this level.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    pub level: LogLevel,

    /// Output format of log messages (on stderr).
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub format: LogFormat,
}

fn parse_duration(text: &str) -> Result<Duration, crate::config::ValueError> {
    crate::config::parse_interval(text)
}

/// `--web.header-timeout`: from 100ms (a client on a slow link still sends its headers in time)
/// to a minute.
fn parse_header_timeout(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration {text:?}: {e} (write e.g. 5s, 500ms)"))?;
    if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&duration) {
        return Err(format!(
            "{text:?} is out of range: write a duration from 100ms to 1m"
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse_as_documented() {
        let cli = Cli::try_parse_from([
            "okta-token-exporter",
            "--okta.org-url=https://acme.okta.com",
            "--okta.token-file=/run/secrets/okta",
            "--okta.poll-interval=90s",
            "--web.listen-address=127.0.0.1:9999",
            "--log.level=debug",
            "--log.format=json",
        ])
        .unwrap();
        assert_eq!(
            cli.okta.orgs.org_url.as_deref(),
            Some("https://acme.okta.com")
        );
        assert_eq!(cli.okta.poll_interval, Some(Duration::from_secs(90)));
        assert_eq!(cli.web.listen_address, "127.0.0.1:9999");
        assert_eq!(cli.web.telemetry_path, "/metrics");
        assert_eq!(cli.web.connection_limits(), ConnectionLimits::default());
        assert_eq!(cli.log.level, LogLevel::Debug);
        assert_eq!(cli.log.format, LogFormat::Json);
        assert!(cli.command.is_none());
    }

    #[test]
    fn demo_takes_the_web_and_log_flags() {
        let cli = Cli::try_parse_from([
            "okta-token-exporter",
            "demo",
            "--web.listen-address=:0",
            "--okta.poll-interval=10s",
        ])
        .unwrap();
        assert!(matches!(cli.command, Some(Command::Demo(_))));
        assert_eq!(cli.web().listen_address, ":0");
        assert_eq!(cli.poll_interval(), Some(Duration::from_secs(10)));
    }

    /// Each subcommand takes, and its --help shows, only the flags it uses.
    #[test]
    fn subcommands_take_only_their_own_flags() {
        let help = |name: &str| {
            let mut command = Cli::command();
            command
                .find_subcommand_mut(name)
                .unwrap()
                .render_long_help()
                .to_string()
        };
        for name in ["keygen", "jwk", "hash-password"] {
            let text = help(name);
            for foreign in [
                "--web.listen-address",
                "--log.level",
                "--okta.poll-interval",
                "--config.file",
            ] {
                assert!(
                    !text.contains(foreign),
                    "{name} --help lists {foreign}:\n{text}"
                );
            }
        }
        let demo = help("demo");
        for own in [
            "--web.listen-address",
            "--web.config.file",
            "--log.level",
            "--okta.poll-interval",
            "--storage.path",
        ] {
            assert!(demo.contains(own), "demo --help lacks {own}:\n{demo}");
        }
        assert!(
            demo.contains("[default: 15s]"),
            "demo's own poll default:\n{demo}"
        );
        assert!(!demo.contains("--config.file"), "{demo}");
        for argv in [
            &[
                "okta-token-exporter",
                "keygen",
                "--out=k.pem",
                "--web.listen-address=:1",
            ][..],
            &["okta-token-exporter", "hash-password", "--log.level=debug"],
            &["okta-token-exporter", "hash-password", "--cost=3"],
            &["okta-token-exporter", "demo", "--config.file=a.yml"],
        ] {
            assert!(Cli::try_parse_from(argv).is_err(), "{argv:?}");
        }
    }

    #[test]
    fn connection_limits_come_from_the_web_flags() {
        let cli = Cli::try_parse_from([
            "okta-token-exporter",
            "demo",
            "--web.max-connections=8",
            "--web.max-connections-per-peer=20",
            "--web.header-timeout=750ms",
        ])
        .unwrap();
        let limits = cli.server_options().limits;
        assert_eq!(
            (limits.max, limits.per_peer, limits.header_timeout),
            (8, 8, Duration::from_millis(750)),
            "a peer never gets more places than the server has"
        );
    }

    #[test]
    fn bad_flags_are_refused() {
        let cases: &[&[&str]] = &[
            &["--okta.poll-interval=soon"],
            &["--okta.poll-interval=5 parsecs"],
            &["--okta.poll-interval=0s"],
            &["--log.level=verbose"],
            &["--web.max-connections=0"],
            &["--web.max-connections-per-peer=-1"],
            &["--web.header-timeout=10ms"],
            &["--web.header-timeout=1h"],
            &["--web.header-timeout=soon"],
            &["--config.file=a.yml", "--okta.org-url=https://a.okta.com"],
            &["--okta.token-file=/x"],
        ];
        for args in cases {
            let argv = std::iter::once("okta-token-exporter").chain(args.iter().copied());
            assert!(Cli::try_parse_from(argv).is_err(), "{args:?}");
        }
    }
}
