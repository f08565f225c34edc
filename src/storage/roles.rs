//! The state file's record of the owners' admin roles (added after version 1 was published: a
//! file without it loads, with no roles known).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One owner's admin roles as last looked up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerRolesRecord {
    pub user_id: String,
    pub fetched_at: DateTime<Utc>,
    /// Okta refused to list them (403): the posture of the owner's tokens is unknown.
    #[serde(default)]
    pub forbidden: bool,
    #[serde(default)]
    pub roles: Vec<RoleRecord>,
}

/// One role assignment, as Okta spelled it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleRecord {
    #[serde(rename = "type")]
    pub role_type: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub assignment_type: String,
    #[serde(default)]
    pub status: String,
}
