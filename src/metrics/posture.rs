//! What each token can do: its owner's admin roles, who made it, its age and the posture
//! findings, per token (streamed with the other token series); per org, the findings by
//! severity and the health of the roles lookups. Computed at scrape time from the snapshot
//! ([`crate::posture`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use prometheus::proto::MetricType;

use super::{Families, Spec};
use crate::exposition::{escape_into, write_label, write_millis_as_seconds};
use crate::model::enrichment::{Creation, CREATION_MEMORY};
use crate::model::posture::{finding_ids, Severity, TokenFacts, TokenKind};
use crate::model::roles::OwnerRoles;
use crate::snapshot::OrgSnapshot;

pub static OWNER_ADMIN_ROLE: Spec = Spec {
    name: "okta_api_token_owner_admin_role",
    help: "1 for each admin role type the API token's owner holds (GET /api/v1/users/{id}/roles, assigned directly or through a group, status not INACTIVE): a token has its owner's permissions. role is Okta's type (SUPER_ADMIN, ORG_ADMIN, APP_ADMIN, USER_ADMIN, GROUP_MEMBERSHIP_ADMIN, HELP_DESK_ADMIN, READ_ONLY_ADMIN, MOBILE_ADMIN, API_ACCESS_MANAGEMENT_ADMIN, REPORT_ADMIN, WORKFLOWS_ADMIN, ACCESS_CERTIFICATIONS_ADMIN, ACCESS_REQUESTS_ADMIN, CUSTOM; OTHER for a type Okta added later). Absent while the roles are unknown.",
    kind: MetricType::GAUGE,
    labels: &["org", "token_id", "role"],
};

pub static OWNER_HIGHEST_ADMIN_ROLE: Spec = Spec {
    name: "okta_api_token_owner_highest_admin_role",
    help: "The API token owner's most privileged admin role, one series per token, always 1: a role type as in okta_api_token_owner_admin_role, NONE when the owner holds no admin role, UNKNOWN when the roles could not be read (not looked up yet, lookups off, or 403 for this owner). Ranked SUPER_ADMIN, ORG_ADMIN, the roles that change users, apps, groups or authorization servers, CUSTOM, REPORT_ADMIN, READ_ONLY_ADMIN.",
    kind: MetricType::GAUGE,
    labels: &["org", "token_id", "role"],
};

pub static AGENT: Spec = Spec {
    name: "okta_api_token_agent",
    help: "1 when the API token is an Okta-managed agent token (listed without an expiry, or with a clientName other than \"Okta API\"), 0 when a person made it in the Admin Console or the API (clientName \"Okta API\"); absent when Okta sent no clientName.",
    kind: MetricType::GAUGE,
    labels: &["org", "token_id"],
};

pub static AGE: Spec = Spec {
    name: "okta_api_token_age_seconds",
    help: "Seconds from the API token's creation (Okta's created) until this scrape; absent without created.",
    kind: MetricType::GAUGE,
    labels: &["org", "token_id"],
};

pub static FINDING: Spec = Spec {
    name: "okta_api_token_finding",
    help: "1 for each posture finding about the API token, computed at scrape time: admin_token_any_network (high: owner is a Super or Org Admin, usable from any IP), idle_admin_token (medium: unused 7+ days, owner holds an admin role), person_owned_token (medium: owner's login looks like a person's), token_too_old (medium: older than the org's max_token_age), ssws_for_new_integration (low: made by a person within 90 days; Okta recommends an OAuth 2.0 service app). See the README.",
    kind: MetricType::GAUGE,
    labels: &["org", "token_id", "finding", "severity"],
};

pub static FINDINGS: Spec = Spec {
    name: "okta_api_token_findings",
    help: "Posture findings about the org's API tokens by severity (high, medium, low), computed at scrape time; all three always present.",
    kind: MetricType::GAUGE,
    labels: &["org", "severity"],
};

pub static ROLES_ENABLED: Spec = Spec {
    name: "okta_owner_roles_lookups_enabled",
    help: "1 when the exporter looks up token owners' admin roles (GET /api/v1/users/{id}/roles, with the owner lookups) for the org, 0 when configured off, when owner lookups are off, or when the credential may read no roles (403: SSWS, its owner's admin role; OAuth, okta.roles.read and an admin role for the app). Token posture then reads UNKNOWN.",
    kind: MetricType::GAUGE,
    labels: &["org"],
};

pub static ROLES_FORBIDDEN: Spec = Spec {
    name: "okta_owner_roles_forbidden",
    help: "Token owners whose admin roles Okta refused to list (403) at their last lookup: the credential's admin role does not reach them, and their tokens' posture reads UNKNOWN.",
    kind: MetricType::GAUGE,
    labels: &["org"],
};

pub static ROLES_ERRORS: Spec = Spec {
    name: "okta_owner_roles_lookup_errors_total",
    help: "Admin-role lookups of token owners that failed (other than 403 and 404) since the exporter started; the last known roles are kept.",
    kind: MetricType::COUNTER,
    labels: &["org"],
};

pub static CREATED_RECENTLY: Spec = Spec {
    name: "okta_api_token_created_recently",
    help: "When the API token was made (Unix seconds), from the System Log's system.api_token.create event, exported for a day after the event once Okta lists the token: creator is the event's actor, owner_login and owner_role (the highest, as in okta_api_token_owner_highest_admin_role) its owner's, network_connection its network.connection. The new-token alert reads it.",
    kind: MetricType::GAUGE,
    labels: &[
        "org",
        "token_id",
        "token_name",
        "user_id",
        "creator",
        "owner_login",
        "owner_role",
        "network_connection",
    ],
};

/// This collector's org-level families, in output order (the per-token ones are written with
/// the other token series: [`TOKEN_SPECS`]).
pub static SPECS: [&Spec; 5] = [
    &FINDINGS,
    &ROLES_ENABLED,
    &ROLES_FORBIDDEN,
    &ROLES_ERRORS,
    &CREATED_RECENTLY,
];

/// The per-token posture families, in output order, written by the token series writer
/// (the `tokens` collector) so that a scrape of many tokens streams them chunk by chunk.
pub(super) static TOKEN_SPECS: [&Spec; 5] = [
    &OWNER_ADMIN_ROLE,
    &OWNER_HIGHEST_ADMIN_ROLE,
    &AGENT,
    &AGE,
    &FINDING,
];

/// The per-token posture families, in the order of [`TOKEN_SPECS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    AdminRole,
    HighestAdminRole,
    Agent,
    Age,
    Finding,
}

impl Family {
    fn spec(self) -> &'static Spec {
        TOKEN_SPECS[self as usize]
    }
}

/// The findings by severity, and the roles lookups' health.
pub fn collect(org: &OrgSnapshot, now: DateTime<Utc>, families: &mut Families) {
    let name = org.name.as_str();
    let settings = &org.enrichment.posture;
    let facts = crate::posture::facts_of_every_token(org);
    let mut by_severity = [0u64; Severity::ALL.len()];
    for facts in facts {
        for id in finding_ids(&facts, settings, now).iter() {
            let slot = Severity::ALL.iter().position(|s| *s == id.severity());
            by_severity[slot.unwrap_or_default()] += 1;
        }
    }
    for (severity, count) in Severity::ALL.iter().zip(by_severity) {
        families.push(&FINDINGS, &[name, severity.as_str()], count as f64);
    }
    let enrichment = &org.enrichment;
    let on = enrichment.roles_off.is_none() && enrichment.owners_off.is_none();
    families.push(&ROLES_ENABLED, &[name], if on { 1.0 } else { 0.0 });
    let forbidden = enrichment
        .roles
        .values()
        .filter(|r| matches!(r, OwnerRoles::Forbidden { .. }))
        .count();
    families.push(&ROLES_FORBIDDEN, &[name], forbidden as f64);
    families.push(&ROLES_ERRORS, &[name], enrichment.role_errors as f64);
    created_recently(org, now, families);
}

/// The tokens made within the last day that Okta lists, with their creator, owner and network.
fn created_recently(org: &OrgSnapshot, now: DateTime<Utc>, families: &mut Families) {
    let mut created: Vec<(&String, &Creation)> = org
        .enrichment
        .created
        .iter()
        .filter(|(_, c)| now - c.at <= CREATION_MEMORY)
        .collect();
    created.sort_unstable_by_key(|(id, _)| *id);
    for (id, creation) in created {
        let listed = match org.tokens.binary_search_by(|t| t.id.cmp(id)) {
            Ok(i) => {
                let t = &org.tokens[i];
                let facts = crate::posture::facts_of_token(org, t);
                Some((&t.name, &t.user_id, facts))
            }
            Err(_) => org.untimed_tokens.iter().find(|t| &t.id == id).map(|t| {
                let facts = crate::posture::facts_of_untimed(org, t);
                (&t.name, &t.user_id, facts)
            }),
        };
        let Some((token_name, user_id, facts)) = listed else {
            continue;
        };
        let labels = [
            org.name.as_str(),
            id,
            token_name,
            user_id,
            &creation.actor,
            facts.owner_login.unwrap_or_default(),
            facts.privilege.highest_label(),
            facts.network_connection,
        ];
        families.push(&CREATED_RECENTLY, &labels, super::seconds(creation.at));
    }
}

/// One token's series of one posture family, straight into the exposition text.
pub(super) fn write_series(
    out: &mut Vec<u8>,
    family: Family,
    org: &OrgSnapshot,
    token_id: &str,
    facts: &TokenFacts,
    now: DateTime<Utc>,
) {
    let start = |out: &mut Vec<u8>| {
        out.extend_from_slice(family.spec().name.as_bytes());
        out.extend_from_slice(b"{org=\"");
        escape_into(out, &org.name, true);
        out.extend_from_slice(b"\",token_id=\"");
        escape_into(out, token_id, true);
        out.push(b'"');
    };
    match family {
        Family::AdminRole => {
            let Some(held) = facts.privilege.types() else {
                return;
            };
            for role in held {
                start(out);
                write_label(out, "role", role.as_str());
                out.extend_from_slice(b"} 1\n");
            }
        }
        Family::HighestAdminRole => {
            start(out);
            write_label(out, "role", facts.privilege.highest_label());
            out.extend_from_slice(b"} 1\n");
        }
        Family::Agent => {
            let value: &[u8] = match facts.kind {
                TokenKind::Agent => b"} 1\n",
                TokenKind::Person => b"} 0\n",
                TokenKind::Unknown => return,
            };
            start(out);
            out.extend_from_slice(value);
        }
        Family::Age => {
            let Some(created) = facts.created else {
                return;
            };
            start(out);
            out.extend_from_slice(b"} ");
            write_millis_as_seconds(out, (now - created).num_milliseconds());
            out.push(b'\n');
        }
        Family::Finding => {
            for id in finding_ids(facts, &org.enrichment.posture, now).iter() {
                start(out);
                write_label(out, "finding", id.as_str());
                write_label(out, "severity", id.severity().as_str());
                out.extend_from_slice(b"} 1\n");
            }
        }
    }
}

/// Whether any token of any org has a series in this posture family (an empty family is left
/// out whole).
pub(super) fn has_series(family: Family, orgs: &[Arc<OrgSnapshot>], now: DateTime<Utc>) -> bool {
    orgs.iter().any(|org| {
        let settings = &org.enrichment.posture;
        crate::posture::facts_of_every_token(org).any(|f| match family {
            Family::AdminRole => f.privilege.types().is_some_and(|t| !t.is_empty()),
            Family::Agent => f.kind != TokenKind::Unknown,
            Family::Age => f.created.is_some(),
            Family::Finding => !finding_ids(&f, settings, now).is_empty(),
            Family::HighestAdminRole => true,
        })
    })
}

/// The per-token posture series of `org` with the `prometheus` crate's types: the slow,
/// obviously right rendering the tests compare the writer with.
#[cfg(test)]
pub(super) fn push_token_series(families: &mut Families, org: &OrgSnapshot, now: DateTime<Utc>) {
    let name = org.name.as_str();
    for posture in crate::posture::all(org, now) {
        let id = posture.token_id;
        for role in posture.privilege.types().into_iter().flatten() {
            families.push(&OWNER_ADMIN_ROLE, &[name, id, role.as_str()], 1.0);
        }
        let highest = posture.privilege.highest_label();
        families.push(&OWNER_HIGHEST_ADMIN_ROLE, &[name, id, highest], 1.0);
        match posture.kind {
            TokenKind::Agent => families.push(&AGENT, &[name, id], 1.0),
            TokenKind::Person => families.push(&AGENT, &[name, id], 0.0),
            TokenKind::Unknown => {}
        }
        if let Some(age) = posture.age {
            families.push(&AGE, &[name, id], age.num_milliseconds() as f64 / 1000.0);
        }
        for finding in &posture.findings {
            let labels = [name, id, finding.id.as_str(), finding.severity.as_str()];
            families.push(&FINDING, &labels, 1.0);
        }
    }
}
