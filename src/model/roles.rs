//! A token owner's admin roles, as `GET /api/v1/users/{id}/roles` lists them: assigned to the
//! user directly or through a group, standard roles by type and custom roles by label. A token
//! has the permissions of its owner (Okta's help, "Manage Okta API tokens"), so these are what a
//! leaked token could do.

use chrono::{DateTime, Utc};

/// An admin role type, as Okta's API spells it (`type` of a role assignment), from the most
/// privileged down. The order is the exporter's, for "the owner's highest role": Okta publishes
/// no ranking. Super and org admins can change almost anything; the roles that can change users,
/// apps, groups or authorization servers come next; custom roles (whose permissions the
/// exporter cannot see) after them; the roles that only read come last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleType {
    SuperAdmin,
    OrgAdmin,
    ApiAccessManagementAdmin,
    AppAdmin,
    UserAdmin,
    GroupMembershipAdmin,
    HelpDeskAdmin,
    MobileAdmin,
    WorkflowsAdmin,
    AccessCertificationsAdmin,
    AccessRequestsAdmin,
    Custom,
    /// A type Okta added after this release: kept as a role, ranked below the known ones that
    /// change things and above those that only read (its permissions are unknown).
    Other,
    ReportAdmin,
    ReadOnlyAdmin,
}

impl RoleType {
    /// Every type, in rank order: the `role` label's values are these, no others.
    pub const ALL: [RoleType; 15] = [
        Self::SuperAdmin,
        Self::OrgAdmin,
        Self::ApiAccessManagementAdmin,
        Self::AppAdmin,
        Self::UserAdmin,
        Self::GroupMembershipAdmin,
        Self::HelpDeskAdmin,
        Self::MobileAdmin,
        Self::WorkflowsAdmin,
        Self::AccessCertificationsAdmin,
        Self::AccessRequestsAdmin,
        Self::Custom,
        Self::Other,
        Self::ReportAdmin,
        Self::ReadOnlyAdmin,
    ];

    /// The type Okta names `name`; [`RoleType::Other`] for a name it added later.
    pub fn from_okta(name: &str) -> RoleType {
        Self::ALL
            .into_iter()
            .find(|t| *t != Self::Other && t.as_str() == name)
            .unwrap_or(Self::Other)
    }

    /// As Okta spells it (`OTHER` for a type this release does not know).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuperAdmin => "SUPER_ADMIN",
            Self::OrgAdmin => "ORG_ADMIN",
            Self::ApiAccessManagementAdmin => "API_ACCESS_MANAGEMENT_ADMIN",
            Self::AppAdmin => "APP_ADMIN",
            Self::UserAdmin => "USER_ADMIN",
            Self::GroupMembershipAdmin => "GROUP_MEMBERSHIP_ADMIN",
            Self::HelpDeskAdmin => "HELP_DESK_ADMIN",
            Self::MobileAdmin => "MOBILE_ADMIN",
            Self::WorkflowsAdmin => "WORKFLOWS_ADMIN",
            Self::AccessCertificationsAdmin => "ACCESS_CERTIFICATIONS_ADMIN",
            Self::AccessRequestsAdmin => "ACCESS_REQUESTS_ADMIN",
            Self::Custom => "CUSTOM",
            Self::Other => "OTHER",
            Self::ReportAdmin => "REPORT_ADMIN",
            Self::ReadOnlyAdmin => "READ_ONLY_ADMIN",
        }
    }

    /// Super admin or org admin: the roles that can change almost anything in the org,
    /// including other admins' roles (super) and every user and app (org).
    pub fn is_org_wide(self) -> bool {
        matches!(self, Self::SuperAdmin | Self::OrgAdmin)
    }
}

/// One role assignment of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    pub role: RoleType,
    /// `type` as Okta sent it (the only way to tell one [`RoleType::Other`] from another).
    pub type_name: String,
    /// `label`: a custom role's name, or the standard role's display name; may be empty.
    pub label: String,
    /// `assignmentType`: `USER` (direct) or `GROUP` (through a group); may be empty.
    pub assignment_type: String,
    /// `status`: `ACTIVE` or `INACTIVE`; empty when Okta omitted it.
    pub status: String,
}

impl RoleAssignment {
    /// Whether the assignment grants its permissions: every status but `INACTIVE` (a missing
    /// status counts as granting: the cautious reading).
    pub fn is_active(&self) -> bool {
        self.status != "INACTIVE"
    }

    /// How the page names it: the type, and a custom role's label.
    pub fn display(&self) -> String {
        match self.role {
            RoleType::Custom if !self.label.is_empty() => format!("CUSTOM ({})", self.label),
            RoleType::Other => self.type_name.clone(),
            role => role.as_str().to_owned(),
        }
    }
}

/// What is known of one owner's roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerRoles {
    /// Okta listed them (an empty list: the owner holds no admin role).
    Known {
        roles: Vec<RoleAssignment>,
        fetched_at: DateTime<Utc>,
    },
    /// Okta refused to list them (403): the credential may not read this user's roles.
    Forbidden { fetched_at: DateTime<Utc> },
}

impl OwnerRoles {
    pub fn fetched_at(&self) -> DateTime<Utc> {
        match self {
            Self::Known { fetched_at, .. } | Self::Forbidden { fetched_at } => *fetched_at,
        }
    }
}

/// An owner's roles as the posture reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege<'a> {
    /// Not looked up (yet, or lookups are off), or Okta refused: never read as "none".
    Unknown,
    /// Looked up: the active assignments (possibly none).
    Known(&'a [RoleAssignment]),
}

impl<'a> Privilege<'a> {
    /// The privilege `roles` (when looked up) describe.
    pub fn of(roles: Option<&'a OwnerRoles>) -> Privilege<'a> {
        match roles {
            Some(OwnerRoles::Known { roles, .. }) => Privilege::Known(roles),
            Some(OwnerRoles::Forbidden { .. }) | None => Privilege::Unknown,
        }
    }

    /// The active assignments; `None` when unknown.
    pub fn active(self) -> Option<impl Iterator<Item = &'a RoleAssignment>> {
        match self {
            Privilege::Unknown => None,
            Privilege::Known(roles) => Some(roles.iter().filter(|r| r.is_active())),
        }
    }

    /// The highest active role: `Some(None)` when the owner holds none, `None` when unknown.
    pub fn highest(self) -> Option<Option<RoleType>> {
        self.active().map(|roles| roles.map(|r| r.role).min())
    }

    /// The distinct active role types, highest first; `None` when unknown.
    pub fn types(self) -> Option<Vec<RoleType>> {
        self.active().map(|roles| {
            let mut types: Vec<RoleType> = roles.map(|r| r.role).collect();
            types.sort_unstable();
            types.dedup();
            types
        })
    }

    /// The posture word for the highest role: the role type, `NONE` when the owner holds no
    /// admin role, `UNKNOWN` when it could not be read.
    pub fn highest_label(self) -> &'static str {
        match self.highest() {
            None => "UNKNOWN",
            Some(None) => "NONE",
            Some(Some(role)) => role.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(type_name: &str, label: &str, status: &str) -> RoleAssignment {
        RoleAssignment {
            role: RoleType::from_okta(type_name),
            type_name: type_name.into(),
            label: label.into(),
            assignment_type: "USER".into(),
            status: status.into(),
        }
    }

    #[test]
    fn every_type_reads_back_as_okta_spells_it() {
        for t in RoleType::ALL {
            if t != RoleType::Other {
                assert_eq!(RoleType::from_okta(t.as_str()), t);
            }
        }
        assert_eq!(RoleType::from_okta("NEW_ADMIN_OF_2030"), RoleType::Other);
        assert_eq!(RoleType::from_okta("super_admin"), RoleType::Other);
        assert_eq!(RoleType::from_okta("OTHER"), RoleType::Other);
    }

    #[test]
    fn the_highest_role_is_the_most_privileged_active_one() {
        let roles = [
            role("READ_ONLY_ADMIN", "Read-only Administrator", "ACTIVE"),
            role("CUSTOM", "Terraform deployer", "ACTIVE"),
            role("SUPER_ADMIN", "Super Administrator", "INACTIVE"),
            role("HELP_DESK_ADMIN", "Help Desk Administrator", ""),
        ];
        // (the assignments, the highest role, its posture word)
        type Case<'a> = (&'a [RoleAssignment], Option<Option<RoleType>>, &'a str);
        let cases: &[Case] = &[
            (
                &roles,
                Some(Some(RoleType::HelpDeskAdmin)),
                "HELP_DESK_ADMIN",
            ),
            (&roles[..2], Some(Some(RoleType::Custom)), "CUSTOM"),
            (
                &roles[..1],
                Some(Some(RoleType::ReadOnlyAdmin)),
                "READ_ONLY_ADMIN",
            ),
            // Only an inactive assignment: no admin role.
            (&roles[2..3], Some(None), "NONE"),
            (&[], Some(None), "NONE"),
        ];
        for (roles, highest, label) in cases {
            let privilege = Privilege::Known(roles);
            assert_eq!(privilege.highest(), *highest, "{roles:?}");
            assert_eq!(privilege.highest_label(), *label, "{roles:?}");
        }
        assert_eq!(Privilege::Unknown.highest(), None);
        assert_eq!(Privilege::Unknown.highest_label(), "UNKNOWN");
    }

    #[test]
    fn forbidden_reads_unknown_never_none() {
        let forbidden = OwnerRoles::Forbidden {
            fetched_at: Utc::now(),
        };
        assert_eq!(Privilege::of(Some(&forbidden)), Privilege::Unknown);
        assert_eq!(Privilege::of(None), Privilege::Unknown);
        let none = OwnerRoles::Known {
            roles: Vec::new(),
            fetched_at: Utc::now(),
        };
        assert_eq!(Privilege::of(Some(&none)).highest_label(), "NONE");
    }

    #[test]
    fn types_are_distinct_and_ranked() {
        let roles = [
            role("APP_ADMIN", "", "ACTIVE"),
            role("ORG_ADMIN", "", "ACTIVE"),
            role("APP_ADMIN", "", "ACTIVE"),
            role("CUSTOM", "a", "ACTIVE"),
            role("CUSTOM", "b", "ACTIVE"),
        ];
        assert_eq!(
            Privilege::Known(&roles).types(),
            Some(vec![
                RoleType::OrgAdmin,
                RoleType::AppAdmin,
                RoleType::Custom
            ])
        );
        assert_eq!(roles[3].display(), "CUSTOM (a)");
        assert_eq!(
            role("NEW_ADMIN_OF_2030", "", "").display(),
            "NEW_ADMIN_OF_2030"
        );
    }
}
