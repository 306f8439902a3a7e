//! Staff accounts: who manages them and what they start with.

use super::{Language, Refusal, Role};
use crate::error::Invalid;

/// The role that creates and lists staff accounts.
pub const MANAGER_ROLE: Role = Role::Admin;

/// Mail to a staff account created without a language is written in English.
pub const DEFAULT_LANGUAGE: Language = Language::En;

/// What an admin changes on a staff account (`PATCH /admin/staff/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StaffChange {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

impl StaffChange {
    pub fn parse(role: Option<&str>, active: Option<bool>) -> Result<Self, Invalid> {
        Ok(Self {
            role: role.map(Role::parse_staff).transpose()?,
            active,
        })
    }
}

/// A staff account as it stands, for deciding a change to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaffState {
    pub role: Role,
    pub active: bool,
}

impl StaffState {
    fn counts_as_admin(self) -> bool {
        self.active && self.role == Role::Admin
    }

    /// The account after `change`, unless it would leave no active admin: `active_admins` counts
    /// every active admin, this one included, read under the lock that serialises staff
    /// changes, so two parallel demotions of the last two admins cannot both pass.
    pub fn apply(self, change: StaffChange, active_admins: i64) -> Result<Self, Refusal> {
        let next = Self {
            role: change.role.unwrap_or(self.role),
            active: change.active.unwrap_or(self.active),
        };
        if self.counts_as_admin() && !next.counts_as_admin() && active_admins <= 1 {
            return Err(Refusal::LastAdmin);
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: StaffState = StaffState {
        role: Role::Admin,
        active: true,
    };

    #[test]
    fn the_last_active_admin_can_be_neither_demoted_nor_deactivated() {
        let demote = StaffChange {
            role: Some(Role::Officer),
            active: None,
        };
        let deactivate = StaffChange {
            role: None,
            active: Some(false),
        };
        assert_eq!(ADMIN.apply(demote, 1), Err(Refusal::LastAdmin));
        assert_eq!(ADMIN.apply(deactivate, 1), Err(Refusal::LastAdmin));
        assert_eq!(
            ADMIN.apply(demote, 2),
            Ok(StaffState {
                role: Role::Officer,
                active: true
            })
        );
        // Renaming the role to what it is, or reactivating, never removes an admin.
        let keep = StaffChange {
            role: Some(Role::Admin),
            active: Some(true),
        };
        assert_eq!(ADMIN.apply(keep, 1), Ok(ADMIN));
        let officer = StaffState {
            role: Role::Officer,
            active: true,
        };
        assert_eq!(officer.apply(deactivate, 1).map(|s| s.active), Ok(false));
    }

    #[test]
    fn a_staff_change_takes_only_staff_roles() {
        assert!(StaffChange::parse(Some("citizen"), None).is_err());
        assert_eq!(
            StaffChange::parse(Some("admin"), Some(false)),
            Ok(StaffChange {
                role: Some(Role::Admin),
                active: Some(false)
            })
        );
    }

    #[test]
    fn only_admins_manage_staff() {
        assert!(Role::Admin.satisfies(MANAGER_ROLE));
        assert!(!Role::Officer.satisfies(MANAGER_ROLE));
        assert!(!Role::Citizen.satisfies(MANAGER_ROLE));
    }
}
