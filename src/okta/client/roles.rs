//! A user's admin roles: `GET /api/v1/users/{id}/roles` (scope `okta.roles.read`), for the
//! posture of the tokens the user owns. Okta lists roles assigned to the user directly and
//! through groups, standard ones by `type` and custom ones (`type` `CUSTOM`) by `label`.

use super::{OktaClient, PollStats};
use crate::model::roles::{RoleAssignment, RoleType};
use crate::okta::error::PollError;

/// The `endpoint` label of a user's roles (a path template: never an id).
pub const ROLES: &str = "/api/v1/users/{id}/roles";

/// Pages of one user's roles read at most: Okta documents no paging for them, but a `next`
/// link, if one ever comes, is followed this far.
const MAX_ROLE_PAGES: usize = 10;

impl OktaClient {
    /// Every admin role assignment of user `id`. An assignment Okta lists without a `type` makes
    /// the whole answer undecodable: a role left out would understate what the user's tokens can
    /// do, so nothing is better than part.
    pub async fn list_user_roles(
        &self,
        id: &str,
        stats: &mut PollStats,
    ) -> Result<Vec<RoleAssignment>, PollError> {
        let mut url = self
            .base
            .join("/api/v1/users/")
            .expect("a fixed path joins any base");
        url.path_segments_mut()
            .expect("an http(s) URL has segments")
            .pop_if_empty()
            .push(id)
            .push("roles");
        let mut roles = Vec::new();
        let mut undecodable = None;
        self.paginate(
            url,
            ROLES,
            MAX_ROLE_PAGES,
            stats,
            |value| match role_from_json(&value) {
                Some(role) => roles.push(role),
                None => undecodable = Some(value.to_string().chars().take(200).collect::<String>()),
            },
        )
        .await?;
        match undecodable {
            Some(value) => Err(PollError::Decode {
                detail: format!("{ROLES} for {id}: a role assignment without a `type`: {value}"),
            }),
            None => Ok(roles),
        }
    }
}

/// One role assignment; `None` without a `type`. Every other field is optional (Okta's schema
/// requires only `type`), and unknown types and values are kept as Okta spelled them.
pub fn role_from_json(value: &serde_json::Value) -> Option<RoleAssignment> {
    let text = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let type_name = value.get("type")?.as_str().filter(|t| !t.is_empty())?;
    Some(RoleAssignment {
        role: RoleType::from_okta(type_name),
        type_name: type_name.to_owned(),
        label: text("label"),
        assignment_type: text("assignmentType"),
        status: text("status"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_role_assignments_of_okta_api_reference() {
        // The shapes of Okta's examples: a standard role assigned through a group, a custom role
        // with its role and resource set, an IAM-based standard role.
        let standard = json!({
            "id": "gra25fapn1prGTBKV0g4", "label": "API Access Management administrator",
            "type": "API_ACCESS_MANAGEMENT_ADMIN", "status": "ACTIVE",
            "created": "2019-02-06T16:20:57.000Z", "lastUpdated": "2019-02-06T16:20:57.000Z",
            "assignmentType": "GROUP",
            "_links": { "assignee": { "href": "https://acme.okta.com/api/v1/groups/00g1ousb3XCr9Dkr20g4" } }
        });
        let custom = json!({
            "id": "irb1q92TFAHzySt3x0g4", "role": "cr0Yq6IJxGIr0ouum0g3", "label": "UserCreatorRole",
            "type": "CUSTOM", "status": "ACTIVE", "assignmentType": "USER",
            "resource-set": "iamoJDFKaJxGIr0oamd9g"
        });
        let iam = json!({
            "id": "irb5e92YgBazyyQ3x1q5", "role": "ACCESS_CERTIFICATIONS_ADMIN",
            "label": "Access Certifications administrator", "type": "ACCESS_CERTIFICATIONS_ADMIN",
            "status": "ACTIVE", "assignmentType": "USER",
            "resource-set": "ACCESS_CERTIFICATIONS_IAM_POLICY"
        });
        let standard = role_from_json(&standard).unwrap();
        assert_eq!(standard.role, RoleType::ApiAccessManagementAdmin);
        assert_eq!(standard.assignment_type, "GROUP");
        let custom = role_from_json(&custom).unwrap();
        assert_eq!(custom.role, RoleType::Custom);
        assert_eq!(custom.display(), "CUSTOM (UserCreatorRole)");
        assert_eq!(
            role_from_json(&iam).unwrap().role,
            RoleType::AccessCertificationsAdmin
        );
        // Only `type` is required; a type Okta adds later is kept as spelled.
        let minimal = role_from_json(&json!({ "type": "NEW_ADMIN_OF_2030" })).unwrap();
        assert_eq!(minimal.role, RoleType::Other);
        assert_eq!(minimal.display(), "NEW_ADMIN_OF_2030");
        assert!(minimal.is_active(), "no status: counted as granting");
        assert_eq!(role_from_json(&json!({ "label": "no type" })), None);
        assert_eq!(role_from_json(&json!({ "type": "" })), None);
    }
}
