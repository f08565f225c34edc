//! `okta-token-exporter report`: poll every org once, print the token table, and exit with a code
//! a cron job or a CI step can act on.
//!
//! The polls are the exporter's own ([`Poller::poll_once`], with owners and System Log as
//! configured); what is printed is the [`token_table`] the landing page shows. Exit codes:
//! [`EXIT_CLEAN`], [`EXIT_THRESHOLD`], 2 for a usage or configuration error (decided before this
//! module runs), [`EXIT_ORG_DOWN`], [`EXIT_FINDING`], [`EXIT_POSTURE_UNKNOWN`].

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::ValueEnum;

use crate::config::Config;
use crate::logging::is_deceptive;
use crate::model::posture::Severity;
use crate::model::roles::Privilege;
use crate::model::status::TokenStatus;
use crate::snapshot::{OrgSnapshot, Snapshots};
use crate::token_table::{self, relative, Filter, OrgTable, TokenRow};

/// No token at or beyond the `--fail-on` colour, and every org polled.
pub const EXIT_CLEAN: u8 = 0;
/// A token is at or beyond the `--fail-on` colour. Wins over [`EXIT_ORG_DOWN`]: a token known to
/// need action is the more urgent finding; the org that failed is named on stderr either way.
pub const EXIT_THRESHOLD: u8 = 1;
/// An org could not be polled; the others are printed.
pub const EXIT_ORG_DOWN: u8 = 3;
/// A token has a posture finding at or above `--fail-on-finding`. After [`EXIT_THRESHOLD`] (a
/// lapse is nearer than a posture fix), before [`EXIT_ORG_DOWN`].
pub const EXIT_FINDING: u8 = 4;
/// `--fail-on-finding` is set and no finding reaches it, but the posture of some tokens is
/// unknown (their owner's admin roles could not be read): an audit must not pass on what it could
/// not see. After [`EXIT_ORG_DOWN`].
pub const EXIT_POSTURE_UNKNOWN: u8 = 5;

/// Why `report` printed nothing (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("org {org}: {source}")]
    Client {
        org: String,
        source: crate::okta::client::ClientError,
    },
    #[error("cannot write the report: {0}")]
    Write(std::io::Error),
}

/// How `report` prints the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Aligned columns for people; colours on a terminal unless NO_COLOR is set.
    Table,
    /// The `/api/v1/tokens` document.
    Json,
    /// One line per token, with a header, as RFC 4180 CSV.
    Csv,
}

/// The colour from which a token fails the report, in increasing order of reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Expires within 7 days (even when suspicion shows it yellow).
    Red,
    /// Red, or used in a suspicious way.
    Yellow,
    /// Anything but green: red, yellow, or unused for 3 days.
    Gray,
    /// Never.
    None,
}

/// The posture severity from which a token fails the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOnFinding {
    /// A high finding (a Super or Org Admin's token usable from any IP).
    High,
    /// A high or medium finding.
    Medium,
    /// Any finding.
    Low,
    /// Never (the default).
    None,
}

impl FailOnFinding {
    fn severity(self) -> Option<Severity> {
        match self {
            FailOnFinding::High => Some(Severity::High),
            FailOnFinding::Medium => Some(Severity::Medium),
            FailOnFinding::Low => Some(Severity::Low),
            FailOnFinding::None => None,
        }
    }
}

/// When `report` fails: by colour, and by posture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub fail_on: FailOn,
    pub fail_on_finding: FailOnFinding,
}

impl From<FailOn> for Thresholds {
    fn from(fail_on: FailOn) -> Thresholds {
        Thresholds {
            fail_on,
            fail_on_finding: FailOnFinding::None,
        }
    }
}

/// Whether a token is at or beyond the threshold. Yellow (suspicion) hides the expiry in the
/// console colour, so the expiry is checked on its own: a suspicious token about to lapse still
/// fails `--fail-on red`.
pub fn reaches(row: &TokenRow, fail_on: FailOn) -> bool {
    match fail_on {
        FailOn::None => false,
        FailOn::Red => row.expires_within_red(),
        FailOn::Yellow => row.expires_within_red() || row.suspicious,
        FailOn::Gray => row.expires_within_red() || row.status != TokenStatus::Green,
    }
}

/// The exit code for a finished report.
pub fn exit_code(tables: &[OrgTable], thresholds: impl Into<Thresholds>) -> u8 {
    let Thresholds {
        fail_on,
        fail_on_finding,
    } = thresholds.into();
    let rows = || tables.iter().flat_map(|t| &t.rows);
    let reached = rows().any(|row| reaches(row, fail_on));
    let finding = fail_on_finding.severity();
    let found = finding.is_some_and(|at| rows().any(|row| row.posture.worst() >= Some(at)));
    let unknown =
        finding.is_some() && rows().any(|row| row.posture.privilege == Privilege::Unknown);
    if reached {
        EXIT_THRESHOLD
    } else if found {
        EXIT_FINDING
    } else if tables.iter().any(|t| !t.org.up) {
        EXIT_ORG_DOWN
    } else if unknown {
        EXIT_POSTURE_UNKNOWN
    } else {
        EXIT_CLEAN
    }
}

/// Polls every org of `config` once, prints the report on stdout, says on stderr which orgs could
/// not be polled, and returns the exit code. A client that cannot be built is a configuration
/// error ([`ReportError`], exit 2).
pub async fn run(
    config: Config,
    format: ReportFormat,
    thresholds: Thresholds,
) -> Result<u8, ReportError> {
    let snapshots = Snapshots::new(
        config
            .orgs
            .iter()
            .map(|o| OrgSnapshot::new(&o.name, o.origin())),
    );
    let listed = Arc::new(AtomicUsize::new(0));
    let mut polls = tokio::task::JoinSet::new();
    for (index, org) in config.orgs.iter().enumerate() {
        // The kept-alive tokens are marked; a report never uses them.
        let setup = crate::poller::OrgSetup {
            org,
            config: &config,
            storage: None,
            listed: Some(Arc::clone(&listed)),
        };
        let mut poller =
            setup
                .poller(snapshots.clone(), index)
                .map_err(|source| ReportError::Client {
                    org: org.name.clone(),
                    source,
                })?;
        polls.spawn(async move { poller.poll_once().await });
    }
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| tokio::spawn(show_progress(Arc::clone(&listed), config.orgs.len())));
    while polls.join_next().await.is_some() {}
    if let Some(progress) = progress {
        progress.abort();
        let _ = progress.await;
        eprint!("\r{:PROGRESS_WIDTH$}\r", "");
    }

    let orgs = snapshots.all();
    let now = Utc::now();
    let tables = token_table::table(&orgs, &Filter::default(), now);
    let mut out = Vec::new();
    match format {
        ReportFormat::Table => write_table(&mut out, &tables, now, use_colour()),
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &token_table::to_json(&tables))
                .expect("the token table serializes");
            out.push(b'\n');
        }
        ReportFormat::Csv => write_csv(&mut out, &tables),
    }
    crate::stdout::write_all(&out).map_err(ReportError::Write)?;
    for org in orgs.iter().filter(|o| !o.up) {
        eprintln!("{}", unreachable_line(org));
    }
    let unknown = tables
        .iter()
        .flat_map(|t| &t.rows)
        .filter(|row| row.posture.privilege == Privilege::Unknown)
        .count();
    if unknown > 0 && thresholds.fail_on_finding != FailOnFinding::None {
        eprintln!("okta-token-exporter report: the posture of {unknown} token(s) is unknown: their owner's admin roles could not be read (see the README on the roles lookup's permission)");
    }
    Ok(exit_code(&tables, thresholds))
}

/// The width the progress line is padded to, so each rewrite covers the last.
const PROGRESS_WIDTH: usize = 60;

/// A line on stderr, rewritten in place (carriage return and padding, no escape sequence) while
/// the token pages arrive.
async fn show_progress(listed: Arc<AtomicUsize>, orgs: usize) {
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let line = format!(
            "polling {orgs} org{}: {} tokens listed, {}s",
            if orgs == 1 { "" } else { "s" },
            listed.load(Ordering::Relaxed),
            started.elapsed().as_secs()
        );
        eprint!("\r{line:PROGRESS_WIDTH$}");
    }
}

/// Colours on a terminal, unless NO_COLOR (<https://no-color.org>) is set to anything non-empty.
fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The table for people: one line per token, soonest expiry first within each org, then a line
/// per org with its counts.
pub fn write_table(out: &mut Vec<u8>, tables: &[OrgTable], now: DateTime<Utc>, colour: bool) {
    let header = [
        "ORG",
        "STATUS",
        "EXPIRES",
        "LAST USED",
        "NAME",
        "ID",
        "OWNER",
    ];
    let mut lines: Vec<(Option<TokenStatus>, [String; 7])> = vec![(None, header.map(String::from))];
    for table in tables {
        for row in &table.rows {
            let token = row.token;
            let owner = row.owner.map_or_else(
                || token.user_id.clone(),
                |o| format!("{} ({})", o.login, o.status),
            );
            lines.push((
                Some(row.status),
                [
                    table.org.name.clone(),
                    row.status.word().to_owned(),
                    format!(
                        "{} ({})",
                        token.expires_at.format("%Y-%m-%d %H:%M UTC"),
                        relative(row.time_to_expiry)
                    ),
                    relative(-row.last_used_age),
                    match row.keepalive {
                        Some(_) => format!("{} (kept alive)", token.name),
                        None => token.name.clone(),
                    },
                    token.id.clone(),
                    owner,
                ]
                .map(|cell| printable(&cell)),
            ));
        }
    }
    let mut widths = [0; 7];
    for (_, cells) in &lines {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for (status, cells) in &lines {
        let mut line = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            let pad = " ".repeat(width - cell.chars().count());
            match (i, status, colour) {
                (1, Some(status), true) => {
                    line.push_str(&format!("{}{cell}\x1b[0m{pad}", ansi(*status)))
                }
                (6, _, _) => line.push_str(cell),
                _ => line.push_str(&format!("{cell}{pad}")),
            }
            if i < 6 {
                line.push_str("  ");
            }
        }
        out.extend_from_slice(line.trim_end().as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    for table in tables {
        let counts: Vec<String> = TokenStatus::ALL
            .iter()
            .map(|s| format!("{} {}", s.word(), table.counts[*s as usize]))
            .collect();
        let health = match (table.org.up, table.org.last_success) {
            (true, _) => String::new(),
            (false, Some(at)) => format!(
                "; could not be polled (last success {})",
                relative(at - now)
            ),
            (false, None) => "; could not be polled".to_owned(),
        };
        let line = format!(
            "{}: {} tokens ({}){health}\n",
            printable(&table.org.name),
            table.org.tokens.len(),
            counts.join(", ")
        );
        out.extend_from_slice(line.as_bytes());
    }
    write_findings(out, tables);
}

/// The posture findings, most severe first, one line each: org, severity, finding, token id,
/// and the token's name with the reason.
pub fn write_findings(out: &mut Vec<u8>, tables: &[OrgTable]) {
    let mut lines = Vec::new();
    for table in tables {
        for row in &table.rows {
            for finding in &row.posture.findings {
                lines.push((
                    std::cmp::Reverse(finding.severity),
                    table.org.name.as_str(),
                    finding.id,
                    row.token,
                    finding.reason.as_str(),
                ));
            }
        }
    }
    if lines.is_empty() {
        return;
    }
    lines.sort_by(|a, b| (a.0, a.1, a.2, &a.3.id).cmp(&(b.0, b.1, b.2, &b.3.id)));
    out.extend_from_slice(b"\nPosture findings:\n");
    for (severity, org, id, token, reason) in lines {
        let line = format!(
            "{}  {:<6}  {:<24}  {}  {}: {}\n",
            printable(org),
            severity.0.as_str(),
            id.as_str(),
            printable(&token.id),
            printable(&token.name),
            printable(reason)
        );
        out.extend_from_slice(line.as_bytes());
    }
}

/// The same fields as the JSON form, with the org first; the `keepalive` object is flattened to
/// `keepalive_…` columns, empty when the token is not kept alive.
pub fn write_csv(out: &mut Vec<u8>, tables: &[OrgTable]) {
    out.extend_from_slice(
        b"org,id,name,user_id,status,expires_at,time_to_expiry_seconds,last_used_at,\
          last_used_age_seconds,created_at,window_seconds,client_name,network_connection,\
          owner_login,owner_status,keepalive_when_expires_within_seconds,\
          keepalive_last_refreshed_at,keepalive_last_result,kind,owner_roles,\
          owner_highest_role,findings\r\n",
    );
    let json = token_table::to_json(tables);
    for org in &json {
        for t in &org.tokens {
            let fields = [
                csv_text(org.org),
                csv_text(t.id),
                csv_text(t.name),
                csv_text(t.user_id),
                t.status.to_owned(),
                t.expires_at.clone(),
                t.time_to_expiry_seconds.to_string(),
                t.last_used_at.clone(),
                t.last_used_age_seconds.to_string(),
                t.created_at.clone().unwrap_or_default(),
                t.window_seconds.to_string(),
                csv_text(t.client_name),
                csv_text(t.network_connection),
                csv_text(t.owner_login.unwrap_or_default()),
                csv_text(t.owner_status.unwrap_or_default()),
                t.keepalive
                    .as_ref()
                    .map_or_else(String::new, |k| k.when_expires_within_seconds.to_string()),
                t.keepalive
                    .as_ref()
                    .and_then(|k| k.last_refreshed_at.clone())
                    .unwrap_or_default(),
                t.keepalive
                    .as_ref()
                    .and_then(|k| k.last_result)
                    .unwrap_or_default()
                    .to_owned(),
                t.kind.to_owned(),
                csv_text(&csv_roles(t.owner_roles.as_deref())),
                t.owner_highest_role.to_owned(),
                t.findings
                    .iter()
                    .map(|f| f.id)
                    .collect::<Vec<_>>()
                    .join(";"),
            ];
            out.extend_from_slice(fields.join(",").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// The owner's roles in one CSV field: each type (a custom role with its label in brackets),
/// `;`-separated; empty when unknown (`owner_highest_role` then says UNKNOWN) or none.
fn csv_roles(roles: Option<&[token_table::JsonRole]>) -> String {
    roles
        .unwrap_or_default()
        .iter()
        .map(|r| match r.label {
            label if r.role_type == "CUSTOM" && !label.is_empty() => format!("CUSTOM ({label})"),
            _ => r.role_type.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// The stderr line of an org that could not be polled. Okta's error text (and a proxy's, which
/// may be anything) is shown [`printable`]: no escape sequence reaches the terminal.
fn unreachable_line(org: &OrgSnapshot) -> String {
    let error = org
        .last_error
        .as_ref()
        .map_or_else(|| "no answer".to_owned(), ToString::to_string);
    printable(&format!(
        "okta-token-exporter report: org {} ({}) could not be polled: {error}",
        org.name, org.url
    ))
}

/// A text field for CSV: quoted when it holds a comma, quote or line break (RFC 4180), and
/// prefixed with `'` when it starts like a spreadsheet formula (`=`, `+`, `-`, `@`, and a tab
/// or carriage return, which spreadsheets skip before one), so that a token name opened in a
/// spreadsheet stays text.
fn csv_text(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// A cell for the terminal: control characters (escape sequences, line breaks), bidirectional
/// overrides and line separators ([`crate::logging::is_deceptive`]) shown as `?`, so that a
/// token name can neither move the cursor, recolour the terminal, nor read backwards.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if is_deceptive(c) { '?' } else { c })
        .collect()
}

/// The console colour as a terminal foreground (bold for red).
fn ansi(status: TokenStatus) -> &'static str {
    match status {
        TokenStatus::Green => "\x1b[32m",
        TokenStatus::Gray => "\x1b[90m",
        TokenStatus::Red => "\x1b[1;31m",
        TokenStatus::Yellow => "\x1b[33m",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::Suspicion;
    use crate::okta::ApiToken;
    use chrono::TimeDelta;
    use std::collections::HashMap;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    /// A token last used `idle` ago that expires in `expires_in`.
    fn token(id: &str, name: &str, expires_in: TimeDelta, idle: TimeDelta) -> ApiToken {
        ApiToken {
            id: id.into(),
            name: name.into(),
            user_id: "00u1".into(),
            client_name: "Okta API".into(),
            network_connection: "ANYWHERE".into(),
            window: expires_in + idle,
            created: None,
            expires_at: now() + expires_in,
        }
    }

    fn org(tokens: Vec<ApiToken>, suspicious: &[&str], up: bool) -> Arc<OrgSnapshot> {
        let mut org = OrgSnapshot::new("acme", "https://acme.okta.com");
        org.tokens = Arc::new(tokens);
        org.up = up;
        org.enrichment.suspicious = Arc::new(
            suspicious
                .iter()
                .map(|id| {
                    let s = Suspicion {
                        last: now(),
                        count: 1,
                    };
                    (id.to_string(), s)
                })
                .collect::<HashMap<_, _>>(),
        );
        Arc::new(org)
    }

    #[test]
    fn each_threshold_fails_on_its_colour_and_worse() {
        let day = TimeDelta::days(1);
        let green = token("00T1", "green", day * 29, day);
        let gray = token("00T2", "gray", day * 20, day * 10);
        let red = token("00T3", "red", day * 2, day * 28);
        let suspicious = token("00T4", "yellow", day * 29, day);
        let suspicious_red = token("00T5", "yellow and red", day * 2, day * 28);
        use FailOn::*;
        // Which single token makes which threshold fail.
        let cases = [
            (&green, [false, false, false, false]),
            (&gray, [false, false, true, false]),
            (&red, [true, true, true, false]),
            (&suspicious, [false, true, true, false]),
            (&suspicious_red, [true, true, true, false]),
        ];
        for (token, expected) in cases {
            let orgs = [org(vec![token.clone()], &["00T4", "00T5"], true)];
            let tables = token_table::table(&orgs, &Filter::default(), now());
            for (fail_on, fails) in [Red, Yellow, Gray, None].into_iter().zip(expected) {
                assert_eq!(
                    exit_code(&tables, fail_on),
                    if fails { EXIT_THRESHOLD } else { EXIT_CLEAN },
                    "{} with --fail-on {fail_on:?}",
                    token.name
                );
            }
        }
    }

    #[test]
    fn an_org_down_exits_3_unless_a_token_is_at_the_threshold() {
        let day = TimeDelta::days(1);
        let up = org(vec![token("00T1", "fine", day * 29, day)], &[], true);
        let down = Arc::new(OrgSnapshot::new("beta", "https://beta.okta.com"));
        let red = org(vec![token("00T3", "red", day * 2, day * 28)], &[], true);
        let code = |orgs: &[Arc<OrgSnapshot>], fail_on| {
            exit_code(
                &token_table::table(orgs, &Filter::default(), now()),
                fail_on,
            )
        };
        assert_eq!(code(std::slice::from_ref(&up), FailOn::Red), EXIT_CLEAN);
        assert_eq!(
            code(&[up.clone(), down.clone()], FailOn::Red),
            EXIT_ORG_DOWN
        );
        assert_eq!(code(&[up, down.clone()], FailOn::None), EXIT_ORG_DOWN);
        assert_eq!(code(&[red, down], FailOn::Red), EXIT_THRESHOLD);
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        let cases = [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
            ("@sum", "'@sum"),
            ("-1", "'-1"),
            ("\t=1+1", "'\t=1+1"),
            ("\r=1+1", "\"'\r=1+1\""),
            ("a\t=b", "a\t=b"),
            ("", ""),
        ];
        for (text, field) in cases {
            assert_eq!(csv_text(text), field, "{text:?}");
        }
    }

    #[test]
    fn an_unreachable_orgs_error_reaches_the_terminal_without_control_characters() {
        let mut down = org(vec![], &[], false);
        Arc::make_mut(&mut down).last_error = Some(crate::okta::PollError::ServerError {
            status: 502,
            detail:
                "HTTP 502, Okta error E0000009: \x1b]0;pwned\x07\x1b[2J\u{202e}gnp.exe\u{2028}x"
                    .into(),
        });
        let line = unreachable_line(&down);
        assert!(!line.chars().any(is_deceptive), "{line:?}");
        assert!(
            line.contains("E0000009: ?]0;pwned??[2J?gnp.exe?x"),
            "{line:?}"
        );
        assert!(
            line.starts_with("okta-token-exporter report: org acme"),
            "{line}"
        );
    }

    #[test]
    fn bidirectional_overrides_and_line_separators_show_as_question_marks() {
        let day = TimeDelta::days(1);
        let orgs = [org(
            vec![token(
                "00T4",
                "invoice\u{202e}fdp.exe\u{2028}\u{2066}x",
                day * 20,
                day,
            )],
            &[],
            true,
        )];
        let tables = token_table::table(&orgs, &Filter::default(), now());
        let mut plain = Vec::new();
        write_table(&mut plain, &tables, now(), false);
        let plain = String::from_utf8(plain).unwrap();
        assert!(plain.contains("invoice?fdp.exe??x"), "{plain}");
    }

    #[test]
    fn the_table_shows_names_as_text_and_colours_only_when_asked() {
        let day = TimeDelta::days(1);
        let orgs = [org(
            vec![token("00T3", "ci\x1b[2J\nbot", day * 2, day * 28)],
            &[],
            true,
        )];
        let tables = token_table::table(&orgs, &Filter::default(), now());
        let mut plain = Vec::new();
        write_table(&mut plain, &tables, now(), false);
        let plain = String::from_utf8(plain).unwrap();
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(plain.contains("ci?[2J?bot"), "{plain}");
        assert!(
            plain.contains("2026-12-05 12:00 UTC (in 2 days)"),
            "{plain}"
        );
        assert!(plain.contains("acme: 1 tokens (Green 0, Gray 0, Red 1, Yellow 0)"));
        let mut coloured = Vec::new();
        write_table(&mut coloured, &tables, now(), true);
        let coloured = String::from_utf8(coloured).unwrap();
        assert!(coloured.contains("\x1b[1;31mRed\x1b[0m"), "{coloured}");
        assert_eq!(coloured.matches('\x1b').count(), 2, "only the status cell");
    }
}
