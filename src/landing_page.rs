//! The landing page at `/`: every token of every org, like the tokens list of Okta's admin
//! console, with counts per colour and a filter that works without JavaScript.
//!
//! A pure function from the token table to HTML. The page loads nothing from elsewhere and runs no
//! script: its only inline content is one `<style>` element, allowed by hash in the
//! [`CONTENT_SECURITY_POLICY`], so even a token name that escaped escaping could not run code.

use std::fmt::Write as _;
use std::sync::LazyLock;

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use sha2::Digest as _;

use crate::model::posture::{usable_from_any_ip, FindingId};
use crate::model::roles::Privilege;
use crate::model::{KeepAliveResult, TokenStatus};
use crate::snapshot::OrgSnapshot;
use crate::token_table::{relative, Filter, OrgTable, TokenRow};

/// The most token rows one page shows; the JSON view has the rest.
pub const MAX_ROWS: usize = 1000;

/// Where the JSON view of the table lives.
pub const JSON_PATH: &str = "/api/v1/tokens";

/// The page's own style: the colours are those of Okta's console badges, and every badge also
/// carries the colour's name, so colour is never the only signal.
const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1.5em;color:#1d1d21}\
h1{font-size:1.5em;margin:0}h2{font-size:1.2em;margin:1.5em 0 .3em}\
a{color:#1662dd}nav,.meta,.note{color:#555;margin:.3em 0}\
form{margin:1em 0}label{margin-right:1em}\
table{border-collapse:collapse;width:100%;font-size:.9em}\
th,td{padding:.35em .6em;text-align:left;border-bottom:1px solid #e3e3e3;vertical-align:top}\
th{background:#f5f5f6;position:sticky;top:0}\
code{font-size:.95em}small{color:#666}time{white-space:nowrap}\
.badge{display:inline-block;min-width:4.5em;padding:.1em .5em;border-radius:.8em;font-weight:600;text-align:center}\
.green{background:#d4f3dc;color:#0b5b23}.gray{background:#e5e5e8;color:#3b3b42}\
.red{background:#fbd9d7;color:#8f1712}.yellow{background:#fff0b3;color:#5c4500}\
.counts{list-style:none;padding:0;margin:.3em 0}.counts li{display:inline-block;margin-right:.6em}\
.down{color:#8f1712;font-weight:600}.kept{color:#0b5b23;font-weight:600}\
.finding{display:inline-block;margin:.1em 0;padding:0 .4em;border-radius:.3em;font-size:.85em}\
.sev-high{background:#fbd9d7;color:#8f1712}.sev-medium{background:#fff0b3;color:#5c4500}\
.sev-low{background:#e5e5e8;color:#3b3b42}";

/// No script, no frames, nothing loaded from anywhere: only the page's own hashed style, and its
/// filter form sent back to this server.
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
});

/// What the page is drawn from.
pub struct Page<'a> {
    /// The filtered table.
    pub tables: &'a [OrgTable<'a>],
    pub filter: &'a Filter,
    /// Every org's name, for the filter's choices.
    pub org_names: Vec<&'a str>,
    pub telemetry_path: &'a str,
    pub now: DateTime<Utc>,
}

/// The page as HTML.
pub fn render(page: &Page) -> String {
    let rows: usize = page.tables.iter().map(|t| t.rows.len()).sum();
    let mut html = String::with_capacity(4096 + rows.min(MAX_ROWS) * 900);
    head(&mut html, page);
    filter_form(&mut html, page);
    if page.tables.is_empty() {
        html.push_str("<p class=\"note\">No org matches this filter.</p>");
    }
    let mut budget = MAX_ROWS;
    for table in page.tables {
        org_section(&mut html, table, page.now, &mut budget);
    }
    if rows > MAX_ROWS {
        let _ = write!(
            html,
            "<p class=\"note\">This page shows the first {MAX_ROWS} of {rows} tokens, soonest expiry first in each org. \
             All of them: <a href=\"{}\">the JSON view</a>.</p>",
            escape(&json_link(page.filter)),
        );
    }
    html.push_str("</main></body></html>\n");
    html
}

fn head(html: &mut String, page: &Page) {
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Okta API tokens</title><style>{STYLE}</style></head><body><main>\
         <h1>Okta API tokens</h1>\
         <nav>okta-token-exporter {version} · <a href=\"{metrics}\">Metrics</a> · \
         <a href=\"{json}\">JSON</a> · <a href=\"/-/healthy\">Health</a> · \
         <a href=\"/-/ready\">Readiness</a></nav>",
        version = env!("CARGO_PKG_VERSION"),
        metrics = escape(page.telemetry_path),
        json = escape(&json_link(page.filter)),
    );
}

fn json_link(filter: &Filter) -> String {
    match filter.to_query() {
        query if query.is_empty() => JSON_PATH.to_owned(),
        query => format!("{JSON_PATH}?{query}"),
    }
}

/// Two selects and a button: a plain GET form, so filtering needs no script.
fn filter_form(html: &mut String, page: &Page) {
    html.push_str(
        "<form method=\"get\" action=\"/\"><label>Status <select name=\"status\"><option value=\"\">any</option>",
    );
    for status in TokenStatus::ALL {
        let selected = if page.filter.statuses == [status] {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            html,
            "<option value=\"{}\"{selected}>{}</option>",
            status.as_str(),
            status.word()
        );
    }
    html.push_str(
        "</select></label><label>Org <select name=\"org\"><option value=\"\">every org</option>",
    );
    for name in &page.org_names {
        let selected = if page.filter.orgs.len() == 1 && page.filter.orgs[0] == *name {
            " selected"
        } else {
            ""
        };
        let name = escape(name);
        let _ = write!(html, "<option value=\"{name}\"{selected}>{name}</option>");
    }
    html.push_str(
        "</select></label><label>Finding <select name=\"finding\"><option value=\"\">any or none</option>",
    );
    for finding in FindingId::ALL {
        let selected = if page.filter.findings == [finding] {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            html,
            "<option value=\"{id}\"{selected}>{id}</option>",
            id = finding.as_str()
        );
    }
    html.push_str("</select></label><button type=\"submit\">Show</button>");
    if !page.filter.is_empty() {
        html.push_str(" <a href=\"/\">every token</a>");
    }
    html.push_str("</form>");
}

fn org_section(html: &mut String, table: &OrgTable, now: DateTime<Utc>, budget: &mut usize) {
    let org = table.org;
    let _ = write!(
        html,
        "<section><h2>{}</h2><p class=\"meta\">{} · {}</p><ul class=\"counts\">",
        escape(&org.name),
        escape(&org.url),
        poll_result(org, now),
    );
    for status in TokenStatus::ALL {
        let _ = write!(
            html,
            "<li><span class=\"badge {}\">{}</span> {}</li>",
            status.as_str(),
            status.word(),
            table.counts[status as usize]
        );
    }
    html.push_str("</ul>");
    if table.rows.is_empty() {
        let what = if org.tokens.is_empty() {
            "No tokens known."
        } else {
            "No token matches this filter."
        };
        let _ = write!(html, "<p class=\"note\">{what}</p></section>");
        return;
    }
    if *budget == 0 {
        html.push_str("<p class=\"note\">Not shown: past the page's row limit.</p></section>");
        return;
    }
    html.push_str(
        "<table><thead><tr><th>Status</th><th>Name</th><th>ID</th><th>Expires</th>\
         <th>Last used</th><th>Created</th><th>Window</th><th>Owner</th><th>Client</th>\
         <th>Network</th><th>Posture</th></tr></thead><tbody>",
    );
    for row in table.rows.iter().take(*budget) {
        token_row(html, row, now);
    }
    *budget = budget.saturating_sub(table.rows.len());
    html.push_str("</tbody></table></section>");
}

fn token_row(html: &mut String, row: &TokenRow, now: DateTime<Utc>) {
    let token = row.token;
    let _ = write!(
        html,
        "<tr><td><span class=\"badge {class}\">{word}</span></td><td>{name}</td><td><code>{id}</code></td>\
         <td>{expires}</td><td>{last_used}</td><td>{created}</td><td>{window}</td><td>{owner}</td>\
         <td>{client}</td><td>{network}</td><td>{posture}</td></tr>",
        class = row.status.as_str(),
        word = row.status.word(),
        name = escape(&token.name) + &kept_alive(row, now),
        id = escape(&token.id),
        expires = instant(token.expires_at, now),
        last_used = relative_instant(row.last_used_at, now),
        created = token.created.map_or_else(|| "unknown".to_owned(), |c| instant(c, now)),
        window = window(token.window),
        owner = owner(row),
        client = escape(&token.client_name),
        network = escape(&token.network_connection),
        posture = posture(row),
    );
}

/// The posture cell: the owner's highest admin role (a custom role by its label), whether the
/// token is usable from any IP, who made it, and each finding with its reason on hover.
fn posture(row: &TokenRow) -> String {
    let posture = &row.posture;
    let role = match posture.privilege {
        Privilege::Known(roles) => {
            let highest = posture.privilege.highest().flatten();
            let shown = roles
                .iter()
                .filter(|r| r.is_active() && Some(r.role) == highest)
                .map(|r| r.display())
                .next();
            escape(&shown.unwrap_or_else(|| "no admin role".to_owned()))
        }
        Privilege::Unknown => {
            "<span title=\"The owner's admin roles could not be read\">roles unknown</span>"
                .to_owned()
        }
    };
    let network = if usable_from_any_ip(posture.network_connection) {
        "any IP"
    } else {
        "network zones"
    };
    let mut cell = format!(
        "{role}<br><small>{network} · {}</small>",
        posture.kind.as_str()
    );
    for finding in &posture.findings {
        let _ = write!(
            cell,
            "<br><span class=\"finding sev-{severity}\" title=\"{reason}\">{severity}: {id}</span>",
            severity = finding.severity.as_str(),
            reason = escape(&finding.reason),
            id = finding.id.as_str(),
        );
    }
    cell
}

/// The UTC date and time, and below it how far away that is.
fn instant(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time><br><small>{}</small>",
        crate::token_table::rfc3339(at),
        at.format("%Y-%m-%d %H:%M UTC"),
        relative(at - now)
    )
}

/// How long ago, with the exact time on hover.
fn relative_instant(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!(
        "<time datetime=\"{0}\" title=\"{0}\">{1}</time>",
        crate::token_table::rfc3339(at),
        relative(at - now)
    )
}

/// A token window in its largest whole unit: "30 days", "12 hours", "5 minutes".
fn window(window: TimeDelta) -> String {
    let seconds = window.num_seconds();
    let (count, unit) = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ]
    .into_iter()
    .find(|(size, _)| seconds % size == 0 && seconds >= *size)
    .map_or((seconds, "second"), |(size, unit)| (seconds / size, unit));
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}

/// Below a kept-alive token's name: that the exporter keeps it alive (from when, on hover) and
/// how the last keep-alive went.
fn kept_alive(row: &TokenRow, now: DateTime<Utc>) -> String {
    let Some(kept) = row.keepalive else {
        return String::new();
    };
    let within = TimeDelta::from_std(kept.when_expires_within).unwrap_or(TimeDelta::MAX);
    let last = match (kept.last_result, kept.last_refreshed) {
        (Some(KeepAliveResult::Refreshed), Some(at)) => {
            format!(" · refreshed {}", relative_instant(at, now))
        }
        (Some(result), _) => format!(" · last: {}", result.as_str().replace('_', " ")),
        (None, _) => String::new(),
    };
    format!(
        "<br><small><span class=\"kept\" title=\"The exporter uses this token when it expires within {}\">kept alive</span>{last}</small>",
        window(within)
    )
}

fn owner(row: &TokenRow) -> String {
    match row.owner {
        Some(owner) => format!(
            "{}<br><small>{}</small>",
            escape(&owner.login),
            escape(&owner.status)
        ),
        None => format!("<small>{}</small>", escape(&row.token.user_id)),
    }
}

fn poll_result(org: &OrgSnapshot, now: DateTime<Utc>) -> String {
    match (org.first_poll_done, org.up, org.last_poll) {
        (false, _, _) | (_, _, None) => match org.last_success {
            Some(at) => format!(
                "waiting for the first poll; showing the state saved {}",
                relative(at - now)
            ),
            None => "waiting for the first poll".to_owned(),
        },
        (true, true, Some(at)) => format!("polled {}", relative(at - now)),
        (true, false, Some(at)) => format!(
            "<span class=\"down\">the last poll failed</span> ({}): {}; showing the tokens of {}",
            relative(at - now),
            escape(
                &org.last_error
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ),
            org.last_success.map_or_else(
                || "no successful poll".to_owned(),
                |s| format!("the last success, {}", relative(s - now))
            ),
        ),
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okta::ApiToken;
    use crate::token_table::table;
    use std::sync::Arc;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn org(name: &str, tokens: usize, token_name: &str) -> Arc<OrgSnapshot> {
        let mut org = OrgSnapshot::new(name, format!("https://{name}.okta.com"));
        org.tokens = Arc::new(
            (0..tokens)
                .map(|i| ApiToken {
                    id: format!("00T{i:05}"),
                    name: token_name.to_owned(),
                    user_id: "00u1".into(),
                    client_name: "Okta API".into(),
                    network_connection: "ANYWHERE".into(),
                    window: TimeDelta::days(30),
                    created: None,
                    expires_at: now() + TimeDelta::hours(i as i64 + 1),
                })
                .collect(),
        );
        org.first_poll_done = true;
        org.up = true;
        org.last_poll = Some(now());
        Arc::new(org)
    }

    fn render_orgs(orgs: &[Arc<OrgSnapshot>], query: &str) -> String {
        let filter = Filter::from_query(query).unwrap();
        let tables = table(orgs, &filter, now());
        render(&Page {
            tables: &tables,
            filter: &filter,
            org_names: orgs.iter().map(|o| o.name.as_str()).collect(),
            telemetry_path: "/metrics",
            now: now(),
        })
    }

    #[test]
    fn windows_read_in_their_largest_whole_unit() {
        let cases = [
            (TimeDelta::days(30), "30 days"),
            (TimeDelta::days(1), "1 day"),
            (TimeDelta::hours(36), "36 hours"),
            (TimeDelta::minutes(5), "5 minutes"),
            (TimeDelta::seconds(90), "90 seconds"),
            (TimeDelta::zero(), "0 seconds"),
        ];
        for (delta, words) in cases {
            assert_eq!(window(delta), words);
        }
    }

    #[test]
    fn html_escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn a_token_name_is_text_never_markup() {
        let hostile =
            "<img src=x onerror=\"document.title='x'\"><script>document.title='y'</script>";
        let html = render_orgs(&[org("acme", 1, hostile)], "");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains(&escape(hostile)));
    }

    #[test]
    fn every_badge_says_its_colour_in_words() {
        let html = render_orgs(&[org("acme", 3, "ci")], "");
        // Expiring in 1, 2 and 3 hours: all red.
        assert_eq!(
            html.matches("<span class=\"badge red\">Red</span></td>")
                .count(),
            3
        );
        assert!(html.contains("<span class=\"badge red\">Red</span> 3</li>"));
        assert!(html.contains("<span class=\"badge green\">Green</span> 0</li>"));
    }

    #[test]
    fn the_page_stops_at_its_row_limit_and_points_at_the_json() {
        let orgs = [org("acme", 700, "a"), org("beta", 700, "b")];
        let html = render_orgs(&orgs, "");
        assert_eq!(html.matches("<tr><td>").count(), MAX_ROWS);
        assert!(html.contains("the first 1000 of 1400 tokens"));
        assert!(html.contains("<a href=\"/api/v1/tokens\">the JSON view</a>"));

        let html = render_orgs(&orgs, "org=beta");
        assert_eq!(html.matches("<tr><td>").count(), 700);
        assert!(!html.contains("the first 1000"));
        assert!(html.contains("href=\"/api/v1/tokens?org=beta\""));
        assert!(html.contains("<option value=\"beta\" selected>beta</option>"));
    }

    #[test]
    fn the_policy_allows_exactly_the_pages_own_style() {
        let policy = CONTENT_SECURITY_POLICY.as_str();
        assert!(policy.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(!policy.contains("unsafe"));
        assert!(
            !policy.contains("script-src"),
            "default-src 'none' covers scripts"
        );
        let html = render_orgs(&[org("acme", 1, "ci")], "");
        assert_eq!(html.matches("<style>").count(), 1);
        assert!(html.contains(&format!("<style>{STYLE}</style>")));
    }
}
