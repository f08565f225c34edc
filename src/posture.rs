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
#[derive(Debug, Clone)]
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

/// The posture of a token with an expiry, at `now`.
pub fn of_token<'a>(
    org: &'a OrgSnapshot,
    token: &'a ApiToken,
    now: DateTime<Utc>,
) -> TokenPosture<'a> {
    read(
        org,
        Listed {
            id: &token.id,
            user_id: &token.user_id,
            kind: TokenKind::of(&token.client_name, true),
            network_connection: &token.network_connection,
            created: token.created,
            last_used: Some(token.last_used()),
        },
        now,
    )
}

/// The posture of a token Okta lists without an expiry (an agent's), at `now`.
pub fn of_untimed<'a>(
    org: &'a OrgSnapshot,
    token: &'a UntimedToken,
    now: DateTime<Utc>,
) -> TokenPosture<'a> {
    read(
        org,
        Listed {
            id: &token.id,
            user_id: &token.user_id,
            kind: TokenKind::of(&token.client_name, false),
            network_connection: &token.network_connection,
            created: token.created,
            last_used: None,
        },
        now,
    )
}

/// Every token's posture, the timed ones first, each in the snapshot's order.
pub fn all(org: &OrgSnapshot, now: DateTime<Utc>) -> impl Iterator<Item = TokenPosture<'_>> {
    org.tokens.iter().map(move |t| of_token(org, t, now)).chain(
        org.untimed_tokens
            .iter()
            .map(move |t| of_untimed(org, t, now)),
    )
}

/// What both kinds of token share.
struct Listed<'a> {
    id: &'a str,
    user_id: &'a str,
    kind: TokenKind,
    network_connection: &'a str,
    created: Option<DateTime<Utc>>,
    last_used: Option<DateTime<Utc>>,
}

fn read<'a>(org: &'a OrgSnapshot, token: Listed<'a>, now: DateTime<Utc>) -> TokenPosture<'a> {
    let enrichment = &org.enrichment;
    let privilege = if enrichment.roles_off.is_some() {
        Privilege::Unknown
    } else {
        Privilege::of(enrichment.roles.get(token.user_id))
    };
    let owner_login = enrichment
        .owners
        .get(token.user_id)
        .map(|o| o.login.as_str())
        .filter(|l| !l.is_empty());
    let facts = TokenFacts {
        kind: token.kind,
        network_connection: token.network_connection,
        created: token.created,
        last_used: token.last_used,
        owner_login,
        privilege,
    };
    TokenPosture {
        token_id: token.id,
        kind: token.kind,
        privilege,
        network_connection: token.network_connection,
        age: token.created.map(|c| now - c),
        findings: findings(&facts, &enrichment.posture, now),
    }
}
