//! The state file's records of the posture: the owners' admin roles and the token creations
//! read from the System Log (both added after version 1 was published: a file without them
//! loads, with nothing known).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The posture part of a state file, at its top level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostureRecord {
    /// Token owners' admin roles as last looked up, sorted by user id.
    #[serde(default)]
    pub owner_roles: Vec<OwnerRolesRecord>,
    /// Token creations read from the System Log within the last day, sorted by token id.
    #[serde(default)]
    pub creations: Vec<CreationRecord>,
}

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

/// A `system.api_token.create` event of the last day: who made which token, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreationRecord {
    pub token_id: String,
    pub actor: String,
    pub at: DateTime<Utc>,
}
