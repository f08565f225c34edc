//! Each token's posture, read off an org's snapshot at a given time: who made it, what its
//! owner's admin roles allow, its network restriction, its age and the findings
//! ([`crate::model::posture`]). One reading for the metrics, the token table, its JSON and
//! `report`, so that they never disagree.

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::posture::{findings, Finding, Severity, TokenFacts, TokenKind};
use crate::model::roles::Privilege;
use crate::model::{ApiToken, UntimedToken};
use crate::snapshot::OrgSnapshot;

/// One token's posture.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPosture<'a> {
    pub token_id: &'a str,
    pub kind: TokenKind,
    /// The owner's admin roles ([`Privilege::Unknown`] while they cannot be read).
    pub privilege: Privilege<'a>,
    /// `network.connection`, as Okta listed it.
    pub network_connection: &'a str,
    /// From `created` to the time of reading; `None` without `created`.
    pub age: Option<TimeDelta>,
    pub findings: Vec<Finding>,
}

impl TokenPosture<'_> {
    /// The most severe finding's severity.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// What the findings of a token with an expiry are computed from.
pub fn facts_of_token<'a>(org: &'a OrgSnapshot, token: &'a ApiToken) -> TokenFacts<'a> {
    facts(
        org,
        &token.user_id,
        TokenKind::of(&token.client_name, true),
        &token.network_connection,
        token.created,
        Some(token.last_used()),
    )
}

/// What the findings of a token Okta lists without an expiry (an agent's) are computed from.
pub fn facts_of_untimed<'a>(org: &'a OrgSnapshot, token: &'a UntimedToken) -> TokenFacts<'a> {
    facts(
        org,
        &token.user_id,
        TokenKind::of(&token.client_name, false),
        &token.network_connection,
        token.created,
        None,
    )
}

/// The facts of every token the org lists: those with an expiry, then the agents'.
pub fn facts_of_every_token(org: &OrgSnapshot) -> impl Iterator<Item = TokenFacts<'_>> {
    let timed = org.tokens.iter().map(|t| facts_of_token(org, t));
    timed.chain(org.untimed_tokens.iter().map(|t| facts_of_untimed(org, t)))
}

/// The posture of a token with an expiry, at `now`.
pub fn of_token<'a>(
    org: &'a OrgSnapshot,
    token: &'a ApiToken,
    now: DateTime<Utc>,
) -> TokenPosture<'a> {
    read(org, &token.id, facts_of_token(org, token), now)
}

/// The posture of a token Okta lists without an expiry (an agent's), at `now`.
pub fn of_untimed<'a>(
    org: &'a OrgSnapshot,
    token: &'a UntimedToken,
    now: DateTime<Utc>,
) -> TokenPosture<'a> {
    read(org, &token.id, facts_of_untimed(org, token), now)
}

/// Every token's posture, the timed ones first, each in the snapshot's order.
pub fn all(org: &OrgSnapshot, now: DateTime<Utc>) -> impl Iterator<Item = TokenPosture<'_>> {
    org.tokens.iter().map(move |t| of_token(org, t, now)).chain(
        org.untimed_tokens
            .iter()
            .map(move |t| of_untimed(org, t, now)),
    )
}

fn facts<'a>(
    org: &'a OrgSnapshot,
    user_id: &str,
    kind: TokenKind,
    network_connection: &'a str,
    created: Option<DateTime<Utc>>,
    last_used: Option<DateTime<Utc>>,
) -> TokenFacts<'a> {
    let enrichment = &org.enrichment;
    let privilege = if enrichment.roles_off.is_some() {
        Privilege::Unknown
    } else {
        Privilege::of(enrichment.roles.get(user_id))
    };
    let owner_login = enrichment
        .owners
        .get(user_id)
        .map(|o| o.login.as_str())
        .filter(|l| !l.is_empty());
    TokenFacts {
        kind,
        network_connection,
        created,
        last_used,
        owner_login,
        privilege,
    }
}

fn read<'a>(
    org: &'a OrgSnapshot,
    token_id: &'a str,
    facts: TokenFacts<'a>,
    now: DateTime<Utc>,
) -> TokenPosture<'a> {
    TokenPosture {
        token_id,
        kind: facts.kind,
        privilege: facts.privilege,
        network_connection: facts.network_connection,
        age: facts.created.map(|c| now - c),
        findings: findings(&facts, &org.enrichment.posture, now),
    }
}
