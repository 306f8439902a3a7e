//! Staff accounts: who manages them and what they start with.

use super::{Language, Role};

/// The role that creates and lists staff accounts.
pub const MANAGER_ROLE: Role = Role::Admin;

/// Mail to a staff account created without a language is written in English.
pub const DEFAULT_LANGUAGE: Language = Language::En;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_manage_staff() {
        assert!(Role::Admin.satisfies(MANAGER_ROLE));
        assert!(!Role::Officer.satisfies(MANAGER_ROLE));
        assert!(!Role::Citizen.satisfies(MANAGER_ROLE));
    }
}
