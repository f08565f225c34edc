//! What a leaked token could do, and what an auditor would flag about it: the posture findings,
//! pure functions of a token's metadata, its owner's login and admin roles, and the time.
//!
//! Each finding has a fixed id (the `finding` label, the `?finding=` filter, the JSON), a fixed
//! severity and a one-line reason. The README explains each one and how to fix it in Okta.

use chrono::{DateTime, TimeDelta, Utc};

use super::roles::{Privilege, RoleType};

/// How bad a finding is; ordered, so that "at least medium" is `>= Severity::Medium`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    /// Highest first, as pages and reports list them.
    pub const ALL: [Severity; 3] = [Severity::High, Severity::Medium, Severity::Low];

    /// The `severity` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The findings, by fixed id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingId {
    /// The owner is a super or org admin and the token is usable from any IP.
    AdminAnyNetwork,
    /// Not used for [`IDLE_AFTER`] or more, and the owner holds an admin role.
    IdleAdmin,
    /// The owner's login looks like a person's, not a service account's.
    PersonOwned,
    /// Older than the org's `max_token_age`.
    TooOld,
    /// Made by a person within [`NEW_WITHIN`]: Okta recommends an OAuth 2.0 service app for a
    /// new integration.
    SswsForNewIntegration,
}

impl FindingId {
    pub const ALL: [FindingId; 5] = [
        FindingId::AdminAnyNetwork,
        FindingId::IdleAdmin,
        FindingId::PersonOwned,
        FindingId::TooOld,
        FindingId::SswsForNewIntegration,
    ];

    /// The fixed id: the `finding` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingId::AdminAnyNetwork => "admin_token_any_network",
            FindingId::IdleAdmin => "idle_admin_token",
            FindingId::PersonOwned => "person_owned_token",
            FindingId::TooOld => "token_too_old",
            FindingId::SswsForNewIntegration => "ssws_for_new_integration",
        }
    }

    /// Each finding's fixed severity.
    pub fn severity(self) -> Severity {
        match self {
            FindingId::AdminAnyNetwork => Severity::High,
            FindingId::IdleAdmin | FindingId::PersonOwned | FindingId::TooOld => Severity::Medium,
            FindingId::SswsForNewIntegration => Severity::Low,
        }
    }

    pub fn parse(text: &str) -> Option<FindingId> {
        FindingId::ALL.into_iter().find(|f| f.as_str() == text)
    }
}

/// One finding about one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: FindingId,
    pub severity: Severity,
    /// One line, for a person: what is wrong with this token.
    pub reason: String,
}

impl Finding {
    fn new(id: FindingId, reason: String) -> Finding {
        Finding {
            id,
            severity: id.severity(),
            reason,
        }
    }
}

/// A token not used for this long is idle: nobody would notice a leaked copy being used.
pub const IDLE_AFTER: TimeDelta = TimeDelta::days(7);
/// A token made this recently is a new integration.
pub const NEW_WITHIN: TimeDelta = TimeDelta::days(90);
/// The default rotation policy: a token older than this is flagged.
pub const DEFAULT_MAX_TOKEN_AGE: TimeDelta = TimeDelta::days(365);
/// The `clientName` Okta gives a token an admin made in the Admin Console (or through the API):
/// the only value its API reference shows.
pub const PERSON_MADE_CLIENT: &str = "Okta API";

/// A login pattern (a regular expression) for person accounts, configured per org.
#[derive(Debug, Clone)]
pub struct LoginPattern(regex::Regex);

impl LoginPattern {
    /// Compiles `pattern`; the error names what is wrong with it.
    pub fn new(pattern: &str) -> Result<LoginPattern, regex::Error> {
        regex::Regex::new(pattern).map(LoginPattern)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn is_match(&self, login: &str) -> bool {
        self.0.is_match(login)
    }
}

impl PartialEq for LoginPattern {
    fn eq(&self, other: &LoginPattern) -> bool {
        self.as_str() == other.as_str()
    }
}

/// An org's posture rules, from its `posture:` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PostureSettings {
    /// Logins matching this are person accounts; `None`: the built-in heuristic
    /// ([`looks_like_a_person`]).
    pub person_login: Option<LoginPattern>,
    /// The rotation policy: a token older than this is flagged.
    pub max_token_age: TimeDelta,
}

impl Default for PostureSettings {
    fn default() -> PostureSettings {
        PostureSettings {
            person_login: None,
            max_token_age: DEFAULT_MAX_TOKEN_AGE,
        }
    }
}

impl PostureSettings {
    /// Whether `login` is a person's account under these settings.
    pub fn is_person(&self, login: &str) -> bool {
        match &self.person_login {
            Some(pattern) => pattern.is_match(login),
            None => looks_like_a_person(login),
        }
    }
}

/// Words service accounts are commonly named with; a login holding one is not a person's.
pub const SERVICE_WORDS: [&str; 24] = [
    "api",
    "app",
    "automation",
    "backup",
    "bot",
    "cd",
    "ci",
    "etl",
    "integration",
    "job",
    "monitor",
    "monitoring",
    "noreply",
    "okta",
    "provisioning",
    "reader",
    "robot",
    "scim",
    "script",
    "service",
    "svc",
    "sync",
    "system",
    "terraform",
];

/// The built-in heuristic for a person's login: the part before `@` is two or more words of
/// letters joined by dots (`first.last@…`, `first.middle.last@…`), none of them a service word
/// ([`SERVICE_WORDS`], any case). `jane.doe@acme.com` is a person; `svc-okta@`, `ci.bot@`,
/// `scim.service@`, `integration@` and `okta_api@` are not.
pub fn looks_like_a_person(login: &str) -> bool {
    let local = login.split('@').next().unwrap_or_default();
    let words: Vec<&str> = local.split('.').collect();
    words.len() >= 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(char::is_alphabetic))
        && !words
            .iter()
            .any(|w| SERVICE_WORDS.contains(&w.to_lowercase().as_str()))
}

/// Who made a token, as far as its metadata tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An admin, in the Admin Console or through the API (`clientName` "Okta API").
    Person,
    /// Okta, for one of its agents: listed without an expiry, or for another client.
    Agent,
    /// Okta did not say (no `clientName`).
    Unknown,
}

impl TokenKind {
    /// The kind of a token with this `clientName`; `timed` is false for a token listed without
    /// `expiresAt` or `tokenWindow`, which only Okta-managed agent tokens are.
    pub fn of(client_name: &str, timed: bool) -> TokenKind {
        if !timed {
            TokenKind::Agent
        } else if client_name == PERSON_MADE_CLIENT {
            TokenKind::Person
        } else if client_name.is_empty() {
            TokenKind::Unknown
        } else {
            TokenKind::Agent
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Person => "person",
            TokenKind::Agent => "agent",
            TokenKind::Unknown => "unknown",
        }
    }
}

/// Whether `network.connection` lets the token be used from any IP: `ANYWHERE`, or no `network`
/// object at all (Okta sets no restriction then). `ZONE` restricts it; a value Okta adds later is
/// not read as unrestricted.
pub fn usable_from_any_ip(network_connection: &str) -> bool {
    network_connection.is_empty() || network_connection == "ANYWHERE"
}

/// What the findings are computed from, for one token.
#[derive(Debug, Clone, Copy)]
pub struct TokenFacts<'a> {
    pub kind: TokenKind,
    pub network_connection: &'a str,
    pub created: Option<DateTime<Utc>>,
    /// `None` for a token listed without an expiry (no last use can be derived).
    pub last_used: Option<DateTime<Utc>>,
    /// `None` until the owner is looked up (or when lookups are off).
    pub owner_login: Option<&'a str>,
    pub privilege: Privilege<'a>,
}

/// A set of findings, in [`FindingId::ALL`] order: what the metrics need, with no reason
/// written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FindingSet(u8);

impl FindingSet {
    fn insert(&mut self, id: FindingId) {
        self.0 |= 1 << id as u8;
    }

    pub fn contains(self, id: FindingId) -> bool {
        self.0 & (1 << id as u8) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = FindingId> {
        FindingId::ALL
            .into_iter()
            .filter(move |id| self.contains(*id))
    }
}

/// Which findings a token has at `now`. A finding that needs what is unknown (the roles, the
/// owner, the creation time) is not raised: the posture then says "unknown" rather than
/// guessing.
pub fn finding_ids(
    facts: &TokenFacts<'_>,
    settings: &PostureSettings,
    now: DateTime<Utc>,
) -> FindingSet {
    let mut found = FindingSet::default();
    let highest = facts.privilege.highest().flatten();
    if highest.is_some_and(RoleType::is_org_wide) && usable_from_any_ip(facts.network_connection) {
        found.insert(FindingId::AdminAnyNetwork);
    }
    if highest.is_some() && facts.last_used.is_some_and(|used| now - used >= IDLE_AFTER) {
        found.insert(FindingId::IdleAdmin);
    }
    if facts
        .owner_login
        .is_some_and(|login| settings.is_person(login))
    {
        found.insert(FindingId::PersonOwned);
    }
    if let Some(created) = facts.created {
        let age = now - created;
        if age > settings.max_token_age {
            found.insert(FindingId::TooOld);
        }
        if facts.kind == TokenKind::Person && age >= TimeDelta::zero() && age < NEW_WITHIN {
            found.insert(FindingId::SswsForNewIntegration);
        }
    }
    found
}

/// Every finding about one token at `now`, in [`FindingId::ALL`] order, each with its reason.
pub fn findings(
    facts: &TokenFacts<'_>,
    settings: &PostureSettings,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    finding_ids(facts, settings, now)
        .iter()
        .map(|id| Finding::new(id, reason(id, facts, settings, now)))
        .collect()
}

/// The one-line reason of a finding the token has.
fn reason(
    id: FindingId,
    facts: &TokenFacts<'_>,
    settings: &PostureSettings,
    now: DateTime<Utc>,
) -> String {
    let highest = facts.privilege.highest().flatten();
    let age = facts.created.map(|c| now - c).unwrap_or_default();
    match id {
        FindingId::AdminAnyNetwork => format!(
            "its owner is {} and it is usable from any IP: a leaked copy can do almost anything, from anywhere",
            highest.map_or("an admin", role_name)
        ),
        FindingId::IdleAdmin => format!(
            "not used for {} yet its owner holds {}: nobody would notice a leaked copy being used",
            days(facts.last_used.map(|u| now - u).unwrap_or_default()),
            highest.map_or("an admin role", RoleType::as_str)
        ),
        FindingId::PersonOwned => format!(
            "owned by {}, a person's account rather than a service account: it stops working when they leave and changes with their roles",
            facts.owner_login.unwrap_or_default()
        ),
        FindingId::TooOld => format!(
            "created {} ago, over the rotation policy of {}",
            days(age),
            days(settings.max_token_age)
        ),
        FindingId::SswsForNewIntegration => format!(
            "an SSWS token made {} ago: Okta recommends an OAuth 2.0 service app (scoped, short-lived access tokens) for a new integration",
            days(age)
        ),
    }
}

fn role_name(role: RoleType) -> &'static str {
    match role {
        RoleType::SuperAdmin => "a Super Admin",
        RoleType::OrgAdmin => "an Org Admin",
        other => other.as_str(),
    }
}

/// Whole days, as a person says them: `12 days`, `1 day`, `less than a day`.
fn days(span: TimeDelta) -> String {
    match span.num_days() {
        0 => "less than a day".to_owned(),
        1 => "1 day".to_owned(),
        n => format!("{n} days"),
    }
}

/// The severity a finding must reach to fail `report --fail-on-finding`: `none` never fails.
pub fn parse_threshold(text: &str) -> Result<Option<Severity>, String> {
    match text {
        "none" => Ok(None),
        other => Severity::parse(other)
            .map(Some)
            .ok_or_else(|| format!("{other:?} is not a severity: write high, medium, low or none")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::roles::RoleAssignment;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn role(type_name: &str) -> RoleAssignment {
        RoleAssignment {
            role: RoleType::from_okta(type_name),
            type_name: type_name.into(),
            label: String::new(),
            assignment_type: "GROUP".into(),
            status: "ACTIVE".into(),
        }
    }

    fn ids(found: &[Finding]) -> Vec<&'static str> {
        found.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn findings_at_every_boundary() {
        let now = at("2026-11-22T12:00:00Z");
        let d = TimeDelta::days;
        let s = TimeDelta::seconds;
        let super_admin = [role("SUPER_ADMIN")];
        let org_admin = [role("ORG_ADMIN"), role("READ_ONLY_ADMIN")];
        let read_only = [role("READ_ONLY_ADMIN")];
        let custom = [role("CUSTOM")];
        let inactive_super = [RoleAssignment {
            status: "INACTIVE".into(),
            ..role("SUPER_ADMIN")
        }];
        let service = Some("svc-okta@acme.com");
        // A healthy token: a service account's, zone-restricted, used just now, half a year old.
        let base = TokenFacts {
            kind: TokenKind::Person,
            network_connection: "ZONE",
            created: Some(now - d(180)),
            last_used: Some(now),
            owner_login: service,
            privilege: Privilege::Known(&read_only),
        };
        let settings = PostureSettings::default();
        let cases: Vec<(&str, TokenFacts, Vec<&str>)> = vec![
            ("healthy", base, vec![]),
            // admin_token_any_network
            (
                "super admin, any IP",
                TokenFacts {
                    network_connection: "ANYWHERE",
                    privilege: Privilege::Known(&super_admin),
                    ..base
                },
                vec!["admin_token_any_network"],
            ),
            (
                "org admin, no network object",
                TokenFacts {
                    network_connection: "",
                    privilege: Privilege::Known(&org_admin),
                    ..base
                },
                vec!["admin_token_any_network"],
            ),
            (
                "super admin, zone restricted",
                TokenFacts {
                    privilege: Privilege::Known(&super_admin),
                    ..base
                },
                vec![],
            ),
            (
                "super admin, a connection Okta adds later",
                TokenFacts {
                    network_connection: "SOMETHING_NEW",
                    privilege: Privilege::Known(&super_admin),
                    ..base
                },
                vec![],
            ),
            (
                "read-only admin, any IP",
                TokenFacts {
                    network_connection: "ANYWHERE",
                    ..base
                },
                vec![],
            ),
            (
                "custom role, any IP",
                TokenFacts {
                    network_connection: "ANYWHERE",
                    privilege: Privilege::Known(&custom),
                    ..base
                },
                vec![],
            ),
            (
                "inactive super admin assignment, any IP",
                TokenFacts {
                    network_connection: "ANYWHERE",
                    privilege: Privilege::Known(&inactive_super),
                    ..base
                },
                vec![],
            ),
            (
                "roles unknown, any IP: never guessed",
                TokenFacts {
                    network_connection: "ANYWHERE",
                    privilege: Privilege::Unknown,
                    ..base
                },
                vec![],
            ),
            // idle_admin_token
            (
                "unused 7 days less 1 s",
                TokenFacts {
                    last_used: Some(now - d(7) + s(1)),
                    ..base
                },
                vec![],
            ),
            (
                "unused exactly 7 days",
                TokenFacts {
                    last_used: Some(now - d(7)),
                    ..base
                },
                vec!["idle_admin_token"],
            ),
            (
                "unused 20 days, no admin role",
                TokenFacts {
                    last_used: Some(now - d(20)),
                    privilege: Privilege::Known(&[]),
                    ..base
                },
                vec![],
            ),
            (
                "unused 20 days, only an inactive role",
                TokenFacts {
                    last_used: Some(now - d(20)),
                    privilege: Privilege::Known(&inactive_super),
                    ..base
                },
                vec![],
            ),
            (
                "unused 20 days, roles unknown",
                TokenFacts {
                    last_used: Some(now - d(20)),
                    privilege: Privilege::Unknown,
                    ..base
                },
                vec![],
            ),
            (
                "no expiry, so no last use",
                TokenFacts {
                    last_used: None,
                    kind: TokenKind::Agent,
                    ..base
                },
                vec![],
            ),
            // person_owned_token
            (
                "a person's login",
                TokenFacts {
                    owner_login: Some("jane.doe@acme.com"),
                    ..base
                },
                vec!["person_owned_token"],
            ),
            (
                "owner not looked up",
                TokenFacts {
                    owner_login: None,
                    ..base
                },
                vec![],
            ),
            // token_too_old
            (
                "exactly 365 days old",
                TokenFacts {
                    created: Some(now - d(365)),
                    ..base
                },
                vec![],
            ),
            (
                "365 days and 1 s old",
                TokenFacts {
                    created: Some(now - d(365) - s(1)),
                    ..base
                },
                vec!["token_too_old"],
            ),
            (
                "no creation time",
                TokenFacts {
                    created: None,
                    ..base
                },
                vec![],
            ),
            // ssws_for_new_integration
            (
                "made by a person 90 days less 1 s ago",
                TokenFacts {
                    created: Some(now - d(90) + s(1)),
                    ..base
                },
                vec!["ssws_for_new_integration"],
            ),
            (
                "made by a person exactly 90 days ago",
                TokenFacts {
                    created: Some(now - d(90)),
                    ..base
                },
                vec![],
            ),
            (
                "an agent's, made yesterday",
                TokenFacts {
                    created: Some(now - d(1)),
                    kind: TokenKind::Agent,
                    ..base
                },
                vec![],
            ),
            (
                "unknown client, made yesterday",
                TokenFacts {
                    created: Some(now - d(1)),
                    kind: TokenKind::Unknown,
                    ..base
                },
                vec![],
            ),
            (
                "created in the future (a skewed clock)",
                TokenFacts {
                    created: Some(now + d(1)),
                    ..base
                },
                vec![],
            ),
            // Everything at once, in the fixed order.
            (
                "everything",
                TokenFacts {
                    network_connection: "ANYWHERE",
                    created: Some(now - d(30)),
                    last_used: Some(now - d(10)),
                    owner_login: Some("jane.doe@acme.com"),
                    privilege: Privilege::Known(&super_admin),
                    ..base
                },
                vec![
                    "admin_token_any_network",
                    "idle_admin_token",
                    "person_owned_token",
                    "ssws_for_new_integration",
                ],
            ),
        ];
        for (name, facts, want) in cases {
            assert_eq!(ids(&findings(&facts, &settings, now)), want, "{name}");
        }
    }

    #[test]
    fn the_rotation_policy_and_the_person_pattern_are_the_orgs() {
        let now = at("2026-11-22T12:00:00Z");
        let settings = PostureSettings {
            person_login: Some(LoginPattern::new(r"^[a-z]+@acme\.com$").unwrap()),
            max_token_age: TimeDelta::days(90),
        };
        let facts = TokenFacts {
            kind: TokenKind::Agent,
            network_connection: "ZONE",
            created: Some(now - TimeDelta::days(91)),
            last_used: Some(now),
            owner_login: Some("jdoe@acme.com"),
            privilege: Privilege::Unknown,
        };
        let found = findings(&facts, &settings, now);
        assert_eq!(ids(&found), ["person_owned_token", "token_too_old"]);
        assert_eq!(
            found[1].reason,
            "created 91 days ago, over the rotation policy of 90 days"
        );
        // The pattern replaces the heuristic: first.last is no longer a person here.
        assert!(!settings.is_person("jane.doe@acme.com"));
        assert!(PostureSettings::default().is_person("jane.doe@acme.com"));
    }

    #[test]
    fn each_finding_has_its_fixed_id_severity_and_one_line_reason() {
        let now = at("2026-11-22T12:00:00Z");
        let super_admin = [role("SUPER_ADMIN")];
        let facts = TokenFacts {
            kind: TokenKind::Person,
            network_connection: "ANYWHERE",
            created: Some(now - TimeDelta::days(400)),
            last_used: Some(now - TimeDelta::days(12)),
            owner_login: Some("jane.doe@acme.com"),
            privilege: Privilege::Known(&super_admin),
        };
        let found = findings(&facts, &PostureSettings::default(), now);
        let got: Vec<(&str, &str)> = found
            .iter()
            .map(|f| (f.id.as_str(), f.severity.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("admin_token_any_network", "high"),
                ("idle_admin_token", "medium"),
                ("person_owned_token", "medium"),
                ("token_too_old", "medium"),
            ]
        );
        assert!(found.iter().all(|f| !f.reason.contains('\n')));
        assert!(
            found[0].reason.contains("a Super Admin"),
            "{}",
            found[0].reason
        );
        assert!(found[1].reason.contains("12 days"), "{}", found[1].reason);
        for id in FindingId::ALL {
            assert_eq!(FindingId::parse(id.as_str()), Some(id));
        }
    }

    #[test]
    fn person_logins_by_the_built_in_heuristic() {
        let cases = [
            ("jane.doe@acme.com", true),
            ("Jane.Van.Doe@acme.com", true),
            ("former.admin@acme.example", true),
            ("élodie.durand@acme.fr", true),
            ("jdoe@acme.com", false), // one word: could be either; not flagged
            ("svc-okta@acme.com", false),
            ("ci.bot@acme.example", false),
            ("scim.service@acme.example", false),
            ("siem.reader@acme.example", false),
            ("Okta.API@acme.com", false),
            ("jane.doe2@acme.com", false),
            ("jane..doe@acme.com", false),
            ("", false),
        ];
        for (login, person) in cases {
            assert_eq!(looks_like_a_person(login), person, "{login}");
        }
    }

    #[test]
    fn token_kinds_from_the_client_name() {
        assert_eq!(TokenKind::of("Okta API", true), TokenKind::Person);
        assert_eq!(TokenKind::of("Okta AD Agent", true), TokenKind::Agent);
        assert_eq!(TokenKind::of("Okta API", false), TokenKind::Agent);
        assert_eq!(TokenKind::of("", true), TokenKind::Unknown);
    }

    #[test]
    fn thresholds_for_failing_a_report() {
        assert_eq!(parse_threshold("none"), Ok(None));
        assert_eq!(parse_threshold("high"), Ok(Some(Severity::High)));
        assert_eq!(parse_threshold("medium"), Ok(Some(Severity::Medium)));
        assert_eq!(parse_threshold("low"), Ok(Some(Severity::Low)));
        assert!(parse_threshold("critical")
            .unwrap_err()
            .contains("critical"));
        assert!(Severity::High > Severity::Medium && Severity::Medium > Severity::Low);
    }
}
