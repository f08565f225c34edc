//! The posture in the poller's state: the owners' admin roles, applied after each refresh, and
//! the token creations of the last day; both restored from the state file and written to it.

use std::collections::HashMap;
use std::sync::Arc;

use super::OrgState;
use crate::enrich::roles::RolesUpdate;
use crate::model::enrichment::Creation;
use crate::model::roles::{OwnerRoles, RoleAssignment, RoleType};
use crate::okta::PollStats;
use crate::storage::{CreationRecord, OwnerRolesRecord, RoleRecord};

impl OrgState {
    /// Takes in a roles refresh and the requests it made; returns whether what the roles say
    /// changed (when they were merely looked up again, the state file need not be written).
    pub fn apply_roles(&mut self, update: RolesUpdate, stats: PollStats) -> bool {
        let enrichment = &mut self.facts.enrichment;
        let changed =
            enrichment.roles_off != update.off || !same_roles(&enrichment.roles, &update.roles);
        enrichment.roles = update.roles;
        enrichment.roles_off = update.off;
        enrichment.role_errors += update.errors;
        self.count_requests(stats);
        changed
    }
}

/// Whether two roles maps say the same, whenever they were looked up.
fn same_roles(a: &HashMap<String, OwnerRoles>, b: &HashMap<String, OwnerRoles>) -> bool {
    a.len() == b.len()
        && a.iter().all(|(id, x)| match (x, b.get(id)) {
            (OwnerRoles::Known { roles: r, .. }, Some(OwnerRoles::Known { roles: s, .. })) => {
                r == s
            }
            (OwnerRoles::Forbidden { .. }, Some(OwnerRoles::Forbidden { .. })) => true,
            _ => false,
        })
}

/// The roles a state file holds.
pub(super) fn restore(records: &[OwnerRolesRecord]) -> Arc<HashMap<String, OwnerRoles>> {
    Arc::new(
        records
            .iter()
            .map(|r| {
                let roles = if r.forbidden {
                    OwnerRoles::Forbidden {
                        fetched_at: r.fetched_at,
                    }
                } else {
                    OwnerRoles::Known {
                        roles: r
                            .roles
                            .iter()
                            .map(|role| RoleAssignment {
                                role: RoleType::from_okta(&role.role_type),
                                type_name: role.role_type.clone(),
                                label: role.label.clone(),
                                assignment_type: role.assignment_type.clone(),
                                status: role.status.clone(),
                            })
                            .collect(),
                        fetched_at: r.fetched_at,
                    }
                };
                (r.user_id.clone(), roles)
            })
            .collect(),
    )
}

/// The roles as state file records, sorted by user id.
pub(super) fn records(roles: &HashMap<String, OwnerRoles>) -> Vec<OwnerRolesRecord> {
    let mut records: Vec<OwnerRolesRecord> = roles
        .iter()
        .map(|(user_id, roles)| match roles {
            OwnerRoles::Known { roles, fetched_at } => OwnerRolesRecord {
                user_id: user_id.clone(),
                fetched_at: *fetched_at,
                forbidden: false,
                roles: roles
                    .iter()
                    .map(|r| RoleRecord {
                        role_type: r.type_name.clone(),
                        label: r.label.clone(),
                        assignment_type: r.assignment_type.clone(),
                        status: r.status.clone(),
                    })
                    .collect(),
            },
            OwnerRoles::Forbidden { fetched_at } => OwnerRolesRecord {
                user_id: user_id.clone(),
                fetched_at: *fetched_at,
                forbidden: true,
                roles: Vec::new(),
            },
        })
        .collect();
    records.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    records
}

/// The token creations a state file holds.
pub(super) fn restore_creations(records: &[CreationRecord]) -> Arc<HashMap<String, Creation>> {
    Arc::new(
        records
            .iter()
            .map(|r| {
                let creation = Creation {
                    actor: r.actor.clone(),
                    at: r.at,
                };
                (r.token_id.clone(), creation)
            })
            .collect(),
    )
}

/// The token creations as state file records, sorted by token id.
pub(super) fn creation_records(created: &HashMap<String, Creation>) -> Vec<CreationRecord> {
    let mut records: Vec<CreationRecord> = created
        .iter()
        .map(|(token_id, c)| CreationRecord {
            token_id: token_id.clone(),
            actor: c.actor.clone(),
            at: c.at,
        })
        .collect();
    records.sort_by(|a, b| a.token_id.cmp(&b.token_id));
    records
}
