//! The simulated org's System Log, read the way Okta's System Log guide describes
//! (`/docs/reference/system-log-query`).
//!
//! Every event gets an ingestion sequence number when the org receives it, and a persistence
//! time: its `published` time for an event recorded on time, the org's clock for one recorded
//! late ([`crate::Simulator::push_late_log_event`]). Two kinds of query:
//!
//! - *Bounded* (`since` and `until`, or `sortOrder=DESCENDING`): the events with
//!   `since <= published < until` at the time of the query, in `published` order; a `next` link
//!   only while more remain. An event published late inside a window already read is missed by a
//!   reader that moves its own window, as Okta warns.
//! - *Polling* (no `until`, ascending): the first request answers the events persisted at or
//!   after `since`, oldest `published` first; then, following the `next` links, every matching
//!   event ingested after the last one answered, late ones included whatever their `published`.
//!   Every answer, even an empty one, has a `next` link: following them for ever neither loses
//!   nor repeats an event. An empty page's `next` link is its own address until something new is
//!   ingested.
//!
//! The `after` cursor in a `next` link is opaque: an ingestion sequence number, sealed with a key
//! of this org, so a cursor the org did not issue is refused (400 `E0000001`), and so is one
//! combined with another `since` than the query it came from. A `since` more than 180 days ago is
//! refused (400 `E0000053`, Okta's wording); events published more than 90 days ago are not
//! answered (Okta's retention). `filter` takes SCIM expressions on the event's attributes
//! (`eventType eq "…"`, `target.id eq "…"`, `transaction.detail.requestApiTokenId eq "…"`, with
//! `eq`, `ne`, `sw`, `co`, `ew`, `pr`, `and`, `or` and parentheses); `q` is ignored.

use std::hash::{BuildHasher, RandomState};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{json, Value};

/// One System Log event. Build it with a constructor, which shapes it as Okta's event catalog
/// lists that type; the fields stay public for the unusual event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimLogEvent {
    pub published: DateTime<Utc>,
    /// e.g. `system.api_token.revoke`.
    pub event_type: String,
    /// Who did it (`actor.alternateId`, a login).
    pub actor: String,
    /// The event's targets; none renders `"target": null`.
    pub targets: Vec<SimTarget>,
    /// The API token the call that caused the event was made with
    /// (`transaction.detail.requestApiTokenId`); `None` for the admin console.
    pub requested_with: Option<String>,
}

/// A target of a System Log event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimTarget {
    /// An API token (`00T…`).
    Token(String),
    /// A user: `{"id": "00u…", "type": "User", "alternateId": login}`.
    User { id: String, login: String },
}

impl SimLogEvent {
    /// A token event with the token as its target (`system.api_token.create`, `.update`,
    /// `.enable`), made in the admin console; see [`SimLogEvent::requested_with`].
    pub fn token_event(
        published: DateTime<Utc>,
        event_type: &str,
        token_id: &str,
        actor: &str,
    ) -> SimLogEvent {
        SimLogEvent {
            published,
            event_type: event_type.to_owned(),
            actor: actor.to_owned(),
            targets: vec![SimTarget::Token(token_id.to_owned())],
            requested_with: None,
        }
    }

    /// `system.api_token.revoke`: the target is the revoked token; `requested_with` the token
    /// the revoking call was made with (another token), `None` when an admin revoked it in the
    /// console.
    pub fn revoke(
        published: DateTime<Utc>,
        revoked_token_id: &str,
        requested_with: Option<&str>,
        actor: &str,
    ) -> SimLogEvent {
        SimLogEvent {
            requested_with: requested_with.map(str::to_owned),
            ..SimLogEvent::token_event(
                published,
                "system.api_token.revoke",
                revoked_token_id,
                actor,
            )
        }
    }

    /// `system.api_token.request_outside_allowed_range`: a call made with `token_id` from outside
    /// its allowed network zones. Okta lists no target: the token is the requesting one.
    pub fn outside_allowed_range(
        published: DateTime<Utc>,
        token_id: &str,
        actor: &str,
    ) -> SimLogEvent {
        SimLogEvent {
            published,
            event_type: "system.api_token.request_outside_allowed_range".to_owned(),
            actor: actor.to_owned(),
            targets: Vec::new(),
            requested_with: Some(token_id.to_owned()),
        }
    }

    /// `user.lifecycle.deactivate`: the target is the user, no token is named.
    pub fn user_deactivated(
        published: DateTime<Utc>,
        user_id: &str,
        login: &str,
        actor: &str,
    ) -> SimLogEvent {
        SimLogEvent {
            published,
            event_type: "user.lifecycle.deactivate".to_owned(),
            actor: actor.to_owned(),
            targets: vec![SimTarget::User {
                id: user_id.to_owned(),
                login: login.to_owned(),
            }],
            requested_with: None,
        }
    }

    /// The same event, caused by a call made with this API token.
    pub fn requested_with(mut self, token_id: &str) -> SimLogEvent {
        self.requested_with = Some(token_id.to_owned());
        self
    }

    fn to_json(&self, uuid: &str, transaction_id: &str) -> Value {
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|target| match target {
                SimTarget::Token(id) => json!({
                    "id": id, "type": "Token", "alternateId": "unknown", "displayName": id,
                    "detailEntry": null,
                }),
                SimTarget::User { id, login } => json!({
                    "id": id, "type": "User", "alternateId": login, "displayName": login,
                    "detailEntry": null,
                }),
            })
            .collect();
        let detail = match &self.requested_with {
            Some(token) => json!({ "requestApiTokenId": token }),
            None => json!({}),
        };
        json!({
            "uuid": uuid,
            "published": self.published.to_rfc3339_opts(SecondsFormat::Millis, true),
            "eventType": self.event_type,
            "version": "0",
            "displayMessage": self.event_type,
            "severity": "INFO",
            "actor": {
                "id": "00uactor", "type": "User", "alternateId": self.actor,
                "displayName": self.actor, "detailEntry": null,
            },
            "outcome": { "result": "SUCCESS", "reason": null },
            "target": if targets.is_empty() { Value::Null } else { Value::Array(targets) },
            "transaction": { "type": "WEB", "id": transaction_id, "detail": detail },
        })
    }
}

/// An event as the org holds it.
struct Logged {
    /// Ingestion order, from 1; also its index + 1 in [`SystemLog::events`].
    seq: u64,
    /// When the org persisted it: `published` on time, the org's clock when late.
    persisted: DateTime<Utc>,
    uuid: String,
    transaction_id: String,
    event: SimLogEvent,
}

/// The org's System Log.
pub(crate) struct SystemLog {
    events: Vec<Logged>,
    /// Seals cursors, so the org recognises its own.
    key: RandomState,
}

/// One page of a query: the events (JSON) and the `after` cursor of the `next` link, if any.
pub(crate) struct Page {
    pub events: Vec<Value>,
    pub next_after: Option<String>,
}

/// A refused query: status, Okta error code, summary.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub summary: String,
}

fn invalid(code: &'static str, summary: impl Into<String>) -> Refusal {
    Refusal {
        status: 400,
        code,
        summary: summary.into(),
    }
}

/// Okta keeps 90 days.
const RETENTION_DAYS: i64 = 90;
/// Okta refuses a `since` further back.
const MAX_SINCE_DAYS: i64 = 180;

/// Where a query stands, carried (sealed) in the `after` of a `next` link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cursor {
    /// A bounded query, after the event `last` in its order.
    Bounded { since: DateTime<Utc>, last: u64 },
    /// A polling query's first pages: the events ingested up to `upto` in `published` order,
    /// after the event `last`.
    Snapshot {
        since: DateTime<Utc>,
        upto: u64,
        last: u64,
    },
    /// A polling query afterwards: the events ingested after `seq`.
    Stream { since: DateTime<Utc>, seq: u64 },
}

impl Cursor {
    fn since(self) -> DateTime<Utc> {
        match self {
            Cursor::Bounded { since, .. }
            | Cursor::Snapshot { since, .. }
            | Cursor::Stream { since, .. } => since,
        }
    }
}

impl SystemLog {
    pub(crate) fn new() -> SystemLog {
        SystemLog {
            events: Vec::new(),
            key: RandomState::new(),
        }
    }

    /// Records an event persisted at `persisted`; returns its `uuid`.
    pub(crate) fn push(&mut self, event: SimLogEvent, persisted: DateTime<Utc>) -> String {
        let uuid = uuid_v4();
        self.events.push(Logged {
            seq: self.events.len() as u64 + 1,
            persisted,
            uuid: uuid.clone(),
            transaction_id: rand_id(),
            event,
        });
        uuid
    }

    fn by_seq(&self, seq: u64) -> Option<&Logged> {
        seq.checked_sub(1)
            .and_then(|i| self.events.get(usize::try_from(i).ok()?))
    }

    fn seal(&self, cursor: Cursor) -> String {
        let time = |t: DateTime<Utc>| format!("{}.{}", t.timestamp(), t.timestamp_subsec_nanos());
        let body = match cursor {
            Cursor::Bounded { since, last } => format!("b.{}.{last}", time(since)),
            Cursor::Snapshot { since, upto, last } => format!("s.{}.{upto}.{last}", time(since)),
            Cursor::Stream { since, seq } => format!("p.{}.{seq}", time(since)),
        };
        format!("{body}.{:016x}", self.key.hash_one(&body))
    }

    /// The cursor this org sealed into `after`; `None` for anything else.
    fn open(&self, after: &str) -> Option<Cursor> {
        let (body, tag) = after.rsplit_once('.')?;
        if format!("{:016x}", self.key.hash_one(body)) != tag {
            return None;
        }
        let parts: Vec<&str> = body.split('.').collect();
        let number = |i: usize| parts.get(i)?.parse::<u64>().ok();
        let since =
            DateTime::from_timestamp(parts.get(1)?.parse().ok()?, parts.get(2)?.parse().ok()?)?;
        let cursor = match (parts[0], parts.len()) {
            ("b", 4) => Cursor::Bounded {
                since,
                last: number(3)?,
            },
            ("s", 5) => Cursor::Snapshot {
                since,
                upto: number(3)?,
                last: number(4)?,
            },
            ("p", 4) => Cursor::Stream {
                since,
                seq: number(3)?,
            },
            _ => return None,
        };
        Some(cursor)
    }

    /// A page of `selected` in `published` order (then ingestion order) after the event `last`,
    /// and whether more remain.
    fn page_after<'a>(
        &'a self,
        mut selected: Vec<&'a Logged>,
        last: Option<u64>,
        descending: bool,
        limit: usize,
    ) -> (Vec<&'a Logged>, bool) {
        let order = |a: &Logged, b: &Logged| {
            let ascending = (a.event.published, a.seq).cmp(&(b.event.published, b.seq));
            if descending {
                ascending.reverse()
            } else {
                ascending
            }
        };
        selected.sort_by(|a, b| order(a, b));
        if let Some(last) = last.and_then(|seq| self.by_seq(seq)) {
            selected.retain(|e| order(e, last).is_gt());
        }
        let more = selected.len() > limit;
        selected.truncate(limit);
        (selected, more)
    }

    /// Answers `GET /api/v1/logs?{query}` at the org's time `now`.
    pub(crate) fn query(&self, query: &str, now: DateTime<Utc>) -> Result<Page, Refusal> {
        let mut since = None;
        let mut until = None;
        let mut after = None;
        let mut limit = 100;
        let mut descending = false;
        let mut filter = Filter::All;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let date = || {
                DateTime::parse_from_rfc3339(&value)
                    .map(|t| t.to_utc())
                    .map_err(|_| {
                        invalid(
                            "E0000001",
                            format!(
                                "Api validation failed: '{key}': The date format in your query is \
                                 not recognized. Please enter dates using ISO8601 string format."
                            ),
                        )
                    })
            };
            match key.as_ref() {
                "since" => since = Some(date()?),
                "until" => until = Some(date()?),
                "after" => after = Some(value.into_owned()),
                "limit" => {
                    limit = value
                        .parse::<usize>()
                        .map_err(|_| invalid("E0000001", "Api validation failed: limit"))?
                        .clamp(1, 1000)
                }
                "sortOrder" => {
                    descending = match value.as_ref() {
                        "ASCENDING" => false,
                        "DESCENDING" => true,
                        _ => return Err(invalid("E0000001", "Api validation failed: sortOrder")),
                    }
                }
                "filter" => filter = Filter::parse(&value)?,
                _ => {}
            }
        }
        if since.is_some_and(|s| s < now - TimeDelta::days(MAX_SINCE_DAYS)) {
            return Err(invalid(
                "E0000053",
                "Invalid parameter: The since parameter is over 180 days prior to the current day.",
            ));
        }
        let cursor = match &after {
            None => None,
            Some(after) => {
                let cursor = self
                    .open(after)
                    .ok_or_else(|| invalid("E0000001", "Api validation failed: after"))?;
                if since.is_some_and(|s| s != cursor.since()) {
                    return Err(invalid(
                        "E0000001",
                        "Api validation failed: after: 'after' comes from a next link and \
                         cannot be combined with another 'since'",
                    ));
                }
                Some(cursor)
            }
        };
        let polling = until.is_none() && !descending;
        let since = cursor
            .map(Cursor::since)
            .or(since)
            .unwrap_or_else(|| until.unwrap_or(now) - TimeDelta::days(7));
        let retained = |e: &&Logged| e.event.published >= now - TimeDelta::days(RETENTION_DAYS);
        let matches = |e: &&Logged| filter.matches(&e.event.to_json(&e.uuid, &e.transaction_id));
        let after_in_order = |selected, last| self.page_after(selected, last, descending, limit);
        let unknown_cursor = || invalid("E0000001", "Api validation failed: after");
        let (page, next): (Vec<&Logged>, Option<Cursor>) = if !polling {
            let last = match cursor {
                None => None,
                Some(Cursor::Bounded { last, .. }) => Some(last),
                Some(_) => return Err(unknown_cursor()),
            };
            let until = until.unwrap_or(now);
            let selected = self
                .events
                .iter()
                .filter(|e| since <= e.event.published && e.event.published < until)
                .filter(retained)
                .filter(matches)
                .collect();
            let (page, more) = after_in_order(selected, last);
            let next = more.then(|| Cursor::Bounded {
                since,
                last: page.last().map_or(0, |e| e.seq),
            });
            (page, next)
        } else {
            let head = self.events.len() as u64;
            match cursor {
                None | Some(Cursor::Snapshot { .. }) => {
                    let (upto, last) = match cursor {
                        Some(Cursor::Snapshot { upto, last, .. }) => (upto, Some(last)),
                        _ => (head, None),
                    };
                    let selected = self
                        .events
                        .iter()
                        .filter(|e| e.seq <= upto && e.persisted >= since)
                        .filter(retained)
                        .filter(matches)
                        .collect();
                    let (page, more) = after_in_order(selected, last);
                    let next = match page.last() {
                        Some(last) if more => Cursor::Snapshot {
                            since,
                            upto,
                            last: last.seq,
                        },
                        _ => Cursor::Stream { since, seq: upto },
                    };
                    (page, Some(next))
                }
                Some(Cursor::Stream { seq, .. }) => {
                    if seq > head {
                        return Err(unknown_cursor());
                    }
                    let mut page: Vec<&Logged> = self
                        .events
                        .iter()
                        .skip(seq as usize)
                        .filter(retained)
                        .filter(matches)
                        .take(limit + 1)
                        .collect();
                    let more = page.len() > limit;
                    page.truncate(limit);
                    // A full page continues after its last event; otherwise everything ingested
                    // so far was considered.
                    let seq = match page.last() {
                        Some(last) if more => last.seq,
                        _ => head,
                    };
                    (page, Some(Cursor::Stream { since, seq }))
                }
                Some(Cursor::Bounded { .. }) => return Err(unknown_cursor()),
            }
        };
        Ok(Page {
            events: page
                .iter()
                .map(|e| e.event.to_json(&e.uuid, &e.transaction_id))
                .collect(),
            next_after: next.map(|c| self.seal(c)),
        })
    }
}

/// A random UUID (version 4), as Okta's event `uuid`s look.
fn uuid_v4() -> String {
    let bits =
        rand::random::<u128>() & !(0xf000 << 64) & !(0xc << 60) | (0x4000 << 64) | (0x8 << 60);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn rand_id() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 27)
}

/// A SCIM filter expression on an event's attributes.
#[derive(Debug, PartialEq)]
enum Filter {
    All,
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Compare {
        path: Vec<String>,
        op: Op,
        value: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Ne,
    Sw,
    Co,
    Ew,
    Pr,
}

/// The attributes of Okta's `LogEvent`; `published` is left out, as Okta refuses it in filters.
const FIELDS: &[&str] = &[
    "uuid",
    "eventType",
    "version",
    "severity",
    "legacyEventType",
    "displayMessage",
    "actor",
    "client",
    "request",
    "outcome",
    "target",
    "transaction",
    "debugContext",
    "authenticationContext",
    "securityContext",
];

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Quoted(String),
}

impl Filter {
    fn parse(expression: &str) -> Result<Filter, Refusal> {
        let refuse =
            |why: &str| invalid("E0000053", format!("Invalid filter '{expression}': {why}"));
        let tokens = tokenize(expression).ok_or_else(|| refuse("unterminated string"))?;
        if tokens.is_empty() {
            return Ok(Filter::All);
        }
        let mut at = 0;
        let filter = parse_or(&tokens, &mut at, expression)?;
        if at != tokens.len() {
            return Err(refuse("unexpected text after the expression"));
        }
        Ok(filter)
    }

    fn matches(&self, event: &Value) -> bool {
        match self {
            Filter::All => true,
            Filter::Or(a, b) => a.matches(event) || b.matches(event),
            Filter::And(a, b) => a.matches(event) && b.matches(event),
            Filter::Compare { path, op, value } => {
                let mut found = Vec::new();
                resolve(event, path, &mut found);
                let value = value.to_lowercase();
                let test = |v: &String| match op {
                    Op::Eq | Op::Ne => *v == value,
                    Op::Sw => v.starts_with(&value),
                    Op::Co => v.contains(&value),
                    Op::Ew => v.ends_with(&value),
                    Op::Pr => true,
                };
                let any = found.iter().map(|v| v.to_lowercase()).any(|v| test(&v));
                if *op == Op::Ne {
                    !any
                } else {
                    any
                }
            }
        }
    }
}

fn tokenize(expression: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = expression.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                tokens.push(if c == '(' { Token::Open } else { Token::Close });
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => text.push(chars.next()?),
                        c => text.push(c),
                    }
                }
                tokens.push(Token::Quoted(text));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Some(tokens)
}

fn is_word(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
}

fn parse_or(tokens: &[Token], at: &mut usize, expression: &str) -> Result<Filter, Refusal> {
    let mut left = parse_and(tokens, at, expression)?;
    while is_word(tokens.get(*at), "or") {
        *at += 1;
        let right = parse_and(tokens, at, expression)?;
        left = Filter::Or(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn parse_and(tokens: &[Token], at: &mut usize, expression: &str) -> Result<Filter, Refusal> {
    let mut left = parse_term(tokens, at, expression)?;
    while is_word(tokens.get(*at), "and") {
        *at += 1;
        let right = parse_term(tokens, at, expression)?;
        left = Filter::And(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn parse_term(tokens: &[Token], at: &mut usize, expression: &str) -> Result<Filter, Refusal> {
    let refuse = |why: String| invalid("E0000053", format!("Invalid filter '{expression}': {why}"));
    match tokens.get(*at) {
        Some(Token::Open) => {
            *at += 1;
            let inner = parse_or(tokens, at, expression)?;
            if tokens.get(*at) != Some(&Token::Close) {
                return Err(refuse("missing ')'".to_owned()));
            }
            *at += 1;
            Ok(inner)
        }
        Some(Token::Word(attribute)) => {
            let path: Vec<String> = attribute.split('.').map(str::to_owned).collect();
            if !FIELDS.contains(&path[0].as_str()) {
                return Err(invalid(
                    "E0000053",
                    format!("field is not valid: {attribute}"),
                ));
            }
            let op = match tokens.get(*at + 1) {
                Some(Token::Word(op)) => match op.to_ascii_lowercase().as_str() {
                    "eq" => Op::Eq,
                    "ne" => Op::Ne,
                    "sw" => Op::Sw,
                    "co" => Op::Co,
                    "ew" => Op::Ew,
                    "pr" => Op::Pr,
                    _ => {
                        return Err(refuse(format!(
                            "Unrecognized attribute operator '{op}'. Expected: eq,ne,co,sw,ew,pr"
                        )))
                    }
                },
                _ => return Err(refuse(format!("no operator after '{attribute}'"))),
            };
            *at += 2;
            if op == Op::Pr {
                return Ok(Filter::Compare {
                    path,
                    op,
                    value: String::new(),
                });
            }
            match tokens.get(*at) {
                Some(Token::Quoted(value)) => {
                    *at += 1;
                    Ok(Filter::Compare {
                        path,
                        op,
                        value: value.clone(),
                    })
                }
                _ => Err(refuse(format!("no quoted value after '{attribute}'"))),
            }
        }
        _ => Err(refuse("expected an attribute or '('".to_owned())),
    }
}

/// The string values at `path` in `value`, through arrays (any target matches).
fn resolve(value: &Value, path: &[String], found: &mut Vec<String>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| resolve(v, path, found)),
        _ => match path.split_first() {
            Some((first, rest)) => {
                if let Some(v) = value.get(first) {
                    resolve(v, rest, found)
                }
            }
            None => match value {
                Value::String(s) => found.push(s.clone()),
                Value::Number(n) => found.push(n.to_string()),
                Value::Bool(b) => found.push(b.to_string()),
                _ => {}
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes_ago: i64, now: DateTime<Utc>) -> DateTime<Utc> {
        now - TimeDelta::minutes(minutes_ago)
    }

    fn ids(page: &Page) -> Vec<String> {
        page.events
            .iter()
            .map(|e| {
                e.pointer("/transaction/detail/requestApiTokenId")
                    .or_else(|| e.pointer("/target/0/id"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    fn q(pairs: &[(&str, String)]) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }

    fn ts(t: DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    fn event(published: DateTime<Utc>, token: &str) -> SimLogEvent {
        SimLogEvent::token_event(published, "system.api_token.create", token, "a@b")
    }

    #[test]
    fn event_shapes_follow_the_event_catalog() {
        let now = Utc::now();
        let outside =
            SimLogEvent::outside_allowed_range(now, "00Tcaller", "svc@acme").to_json("u", "t");
        assert_eq!(outside["target"], Value::Null);
        assert_eq!(
            outside["transaction"]["detail"]["requestApiTokenId"],
            "00Tcaller"
        );

        let revoke =
            SimLogEvent::revoke(now, "00Trevoked", Some("00Tcaller"), "admin").to_json("u", "t");
        assert_eq!(revoke["target"][0]["id"], "00Trevoked");
        assert_eq!(
            revoke["transaction"]["detail"]["requestApiTokenId"],
            "00Tcaller"
        );
        let console = SimLogEvent::revoke(now, "00Trevoked", None, "admin").to_json("u", "t");
        assert_eq!(console["transaction"]["detail"], json!({}));

        let gone =
            SimLogEvent::user_deactivated(now, "00ugone", "gone@acme", "admin").to_json("u", "t");
        assert_eq!(
            gone["target"],
            json!([{"id": "00ugone", "type": "User", "alternateId": "gone@acme", "displayName": "gone@acme", "detailEntry": null}])
        );
        assert_eq!(gone["eventType"], "user.lifecycle.deactivate");
        assert_eq!(gone["transaction"]["detail"], json!({}));

        let made = event(now, "00Tnew")
            .requested_with("00Tother")
            .to_json("u", "t");
        assert_eq!(made["target"][0]["id"], "00Tnew");
        assert_eq!(
            made["transaction"]["detail"]["requestApiTokenId"],
            "00Tother"
        );
    }

    #[test]
    fn every_event_gets_its_own_uuid() {
        let now = Utc::now();
        let mut log = SystemLog::new();
        let mut uuids: Vec<String> = (0..50).map(|_| log.push(event(now, "00T1"), now)).collect();
        assert_eq!(uuids[0].len(), 36);
        assert_eq!(&uuids[0][14..15], "4", "{}", uuids[0]);
        let page = log.query(&q(&[("since", ts(at(1, now)))]), now).unwrap();
        let served: Vec<&str> = page
            .events
            .iter()
            .map(|e| e["uuid"].as_str().unwrap())
            .collect();
        assert_eq!(served, uuids.iter().map(String::as_str).collect::<Vec<_>>());
        uuids.sort();
        uuids.dedup();
        assert_eq!(uuids.len(), 50);
    }

    /// Bounded: `since <= published < until`, oldest first, pages until none remain; an event
    /// published late inside a window already read is missed by a reader moving its own window.
    #[test]
    fn a_bounded_query_pages_in_published_order_and_misses_late_events() {
        let now = Utc::now();
        let mut log = SystemLog::new();
        log.push(event(at(30, now), "00T3"), at(30, now));
        log.push(event(at(50, now), "00T1"), at(50, now));
        log.push(event(at(40, now), "00T2"), at(40, now));
        log.push(event(at(5, now), "00Tlater"), at(5, now));
        log.push(event(at(70, now), "00Tbefore"), at(70, now));
        let window = |log: &SystemLog, after: Option<&str>, limit: &str| {
            let mut pairs = vec![
                ("since", ts(at(60, now))),
                ("until", ts(at(10, now))),
                ("limit", limit.to_owned()),
            ];
            pairs.extend(after.map(|a| ("after", a.to_owned())));
            log.query(&q(&pairs), now).unwrap()
        };
        let first = window(&log, None, "2");
        assert_eq!(ids(&first), ["00T1", "00T2"]);
        let second = window(&log, first.next_after.as_deref(), "2");
        assert_eq!(ids(&second), ["00T3"]);
        assert_eq!(second.next_after, None, "no next link once none remain");
        assert_eq!(window(&log, None, "3").next_after, None);

        // A reader that read [now-60m, now-10m) moves on to [now-10m, now); an event published
        // 20 minutes ago arrives only now.
        log.push(event(at(20, now), "00Tlate"), now);
        let moved = log
            .query(&q(&[("since", ts(at(10, now))), ("until", ts(now))]), now)
            .unwrap();
        assert_eq!(ids(&moved), ["00Tlater"], "the late event is missed");
        assert_eq!(
            ids(&window(&log, None, "10")),
            ["00T1", "00T2", "00T3", "00Tlate"]
        );

        let newest_first = log
            .query(
                &q(&[
                    ("since", ts(at(60, now))),
                    ("sortOrder", "DESCENDING".into()),
                ]),
                now,
            )
            .unwrap();
        assert_eq!(
            ids(&newest_first),
            ["00Tlater", "00Tlate", "00T3", "00T2", "00T1"]
        );
        assert_eq!(newest_first.next_after, None);
    }

    /// Polling: always a `next` link; following it for ever loses and repeats nothing, late
    /// events included whatever their `published`.
    #[test]
    fn following_a_polling_querys_next_links_loses_and_repeats_nothing() {
        let now = Utc::now();
        let mut log = SystemLog::new();
        log.push(event(at(30, now), "00T2"), at(30, now));
        log.push(event(at(50, now), "00T1"), at(50, now));
        log.push(event(at(20, now), "00T3"), at(20, now));
        log.push(event(at(90, now), "00Told"), at(90, now));
        let since = ts(at(60, now));
        let read = |log: &SystemLog, after: &str| {
            let mut pairs = vec![("since", since.clone()), ("limit", "2".to_owned())];
            if !after.is_empty() {
                pairs.push(("after", after.to_owned()));
            }
            log.query(&q(&pairs), now).unwrap()
        };
        let first = read(&log, "");
        assert_eq!(ids(&first), ["00T1", "00T2"], "oldest published first");
        // Ingested between the first page and the second: comes after the first snapshot.
        log.push(event(at(55, now), "00Tlate1"), now);
        let second = read(&log, first.next_after.as_deref().unwrap());
        assert_eq!(ids(&second), ["00T3"]);
        let third = read(&log, second.next_after.as_deref().unwrap());
        assert_eq!(ids(&third), ["00Tlate1"], "late, yet not lost");
        let empty = read(&log, third.next_after.as_deref().unwrap());
        assert!(empty.events.is_empty());
        let cursor = empty
            .next_after
            .clone()
            .expect("an empty page has a next link");
        assert_eq!(
            cursor,
            third.next_after.clone().unwrap(),
            "nothing new: the same cursor"
        );

        // Published two hours ago (before `since`) but ingested now; and more than a page.
        log.push(event(at(120, now), "00Tlate2"), now);
        log.push(event(now, "00T4"), now);
        log.push(event(now, "00T5"), now);
        let fourth = read(&log, &cursor);
        assert_eq!(ids(&fourth), ["00Tlate2", "00T4"]);
        let fifth = read(&log, fourth.next_after.as_deref().unwrap());
        assert_eq!(ids(&fifth), ["00T5"]);
        assert!(read(&log, fifth.next_after.as_deref().unwrap())
            .events
            .is_empty());

        // A new reader's first request answers by persistence time: the late events, though
        // published before `since`, come first (oldest `published`); `00Told` does not.
        let fresh = read(&log, "");
        assert_eq!(ids(&fresh), ["00Tlate2", "00Tlate1"]);
    }

    #[test]
    fn a_polling_query_with_a_filter_streams_only_matching_events() {
        let now = Utc::now();
        let mut log = SystemLog::new();
        let filter = "eventType eq \"system.api_token.revoke\" or (eventType sw \"user.\" and target.id eq \"00u1\")";
        let read = |log: &SystemLog, after: Option<&str>| {
            let mut pairs = vec![("since", ts(at(60, now))), ("filter", filter.to_owned())];
            pairs.extend(after.map(|a| ("after", a.to_owned())));
            log.query(&q(&pairs), now).unwrap()
        };
        log.push(event(at(5, now), "00Tcreated"), at(5, now));
        log.push(
            SimLogEvent::revoke(at(4, now), "00Tgone", None, "x"),
            at(4, now),
        );
        let first = read(&log, None);
        assert_eq!(ids(&first), ["00Tgone"]);
        log.push(
            SimLogEvent::user_deactivated(at(3, now), "00u2", "two", "x"),
            now,
        );
        log.push(
            SimLogEvent::user_deactivated(at(2, now), "00u1", "one", "x"),
            now,
        );
        log.push(
            SimLogEvent::outside_allowed_range(at(1, now), "00Tout", "x"),
            now,
        );
        let second = read(&log, first.next_after.as_deref());
        assert_eq!(ids(&second), ["00u1"]);
        let by_token = log
            .query(
                &q(&[(
                    "filter",
                    "transaction.detail.requestApiTokenId eq \"00Tout\"".to_owned(),
                )]),
                now,
            )
            .unwrap();
        assert_eq!(ids(&by_token), ["00Tout"]);
        let not_revokes = log
            .query(
                &q(&[
                    (
                        "filter",
                        "eventType ne \"system.api_token.revoke\"".to_owned(),
                    ),
                    ("until", ts(now)),
                ]),
                now,
            )
            .unwrap();
        assert_eq!(not_revokes.events.len(), 4);
    }

    #[test]
    fn refuses_what_okta_refuses() {
        let now = Utc::now();
        let mut log = SystemLog::new();
        log.push(event(at(1, now), "00T1"), at(1, now));
        let refused = |query: &str| log.query(query, now).err().map(|r| (r.status, r.code));
        let old = q(&[("since", ts(now - TimeDelta::days(181)))]);
        assert_eq!(refused(&old), Some((400, "E0000053")));
        let err = log.query(&old, now).err().unwrap();
        assert!(err.summary.contains("180 days"), "{}", err.summary);
        assert_eq!(
            refused(&q(&[("since", ts(now - TimeDelta::days(179)))])),
            None
        );

        assert_eq!(refused("after=12"), Some((400, "E0000001")), "a list index");
        let page = log.query(&q(&[("since", ts(at(10, now)))]), now).unwrap();
        let cursor = page.next_after.unwrap();
        let forged = cursor.replacen("p.", "p.9", 1);
        assert_eq!(refused(&q(&[("after", forged)])), Some((400, "E0000001")));
        let other_org = SystemLog::new();
        assert!(other_org
            .query(&q(&[("after", cursor.clone())]), now)
            .is_err());
        assert_eq!(
            refused(&q(&[("since", ts(at(5, now))), ("after", cursor.clone())])),
            Some((400, "E0000001")),
            "another since"
        );
        assert_eq!(
            refused(&q(&[("since", ts(at(10, now))), ("after", cursor.clone())])),
            None
        );
        assert_eq!(refused(&q(&[("after", cursor.clone())])), None);
        assert_eq!(
            refused(&q(&[("until", ts(now)), ("after", cursor)])),
            Some((400, "E0000001")),
            "a polling cursor in a bounded query"
        );
        assert_eq!(
            refused("filter=published+gt+%222024%22"),
            Some((400, "E0000053"))
        );
        assert_eq!(
            refused("filter=eventType+eqq+%22x%22"),
            Some((400, "E0000053"))
        );
        assert_eq!(refused("filter=eventType+eq+%22x"), Some((400, "E0000053")));
        assert_eq!(refused("since=yesterday"), Some((400, "E0000001")));
        assert_eq!(refused("sortOrder=SIDEWAYS"), Some((400, "E0000001")));
    }

    #[test]
    fn events_older_than_90_days_are_not_answered() {
        let now = Utc::now();
        let mut log = SystemLog::new();
        let old = now - TimeDelta::days(91);
        log.push(event(old, "00Told"), old);
        log.push(event(at(1, now), "00Tnew"), at(1, now));
        let page = log
            .query(
                &q(&[
                    ("since", ts(now - TimeDelta::days(100))),
                    ("until", ts(now)),
                ]),
                now,
            )
            .unwrap();
        assert_eq!(ids(&page), ["00Tnew"]);
    }
}
