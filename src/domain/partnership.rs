//! Partnerships' lifecycles as pure tables: a partnership goes
//! proposed → active → concluded, or is dissolved from proposed or active;
//! a member institution goes invited → active | declined | removed, and
//! active → left | removed.
//!
//! Both statuses are word enums (`word_enum!`): sent and stored as their
//! word, and a stored word outside the set is an error, never a default.

use serde::{Deserialize, Serialize};

use crate::domain::word::word_enum;

// Where a partnership stands. (No doc comment: it would become the OpenAPI
// schema's description, which the committed document does not have.)
word_enum!(PartnershipStatus {
    Proposed => "proposed",
    Active => "active",
    Concluded => "concluded",
    Dissolved => "dissolved",
});

// Where a member institution stands in a partnership.
word_enum!(MemberStatus {
    Invited => "invited",
    Active => "active",
    Declined => "declined",
    Left => "left",
    Removed => "removed",
});

impl From<PartnershipStatus> for String {
    fn from(s: PartnershipStatus) -> Self {
        s.as_str().to_string()
    }
}

impl From<MemberStatus> for String {
    fn from(s: MemberStatus) -> Self {
        s.as_str().to_string()
    }
}

impl PartnershipStatus {
    /// Concluded and dissolved partnerships are read-only.
    pub fn ended(self) -> bool {
        matches!(self, Self::Concluded | Self::Dissolved)
    }

    /// Whether a partnership in this status may move to `to`.
    pub fn can_become(self, to: Self) -> bool {
        use PartnershipStatus::{Active, Concluded, Dissolved, Proposed};
        matches!(
            (self, to),
            (Proposed, Active) | (Active, Concluded) | (Proposed | Active, Dissolved)
        )
    }
}

impl MemberStatus {
    /// Whether a membership in this status may move to `to`.
    pub fn can_become(self, to: Self) -> bool {
        use MemberStatus::{Active, Declined, Invited, Left, Removed};
        matches!(
            (self, to),
            (Invited, Active | Declined | Removed) | (Active, Left | Removed)
        )
    }

    /// Whether the institution takes part (or is asked to): an active
    /// member or an open invitation.
    pub fn involved(self) -> bool {
        matches!(self, Self::Active | Self::Invited)
    }
}

/// How a member institution moved (accepted, declined, left, removed): the
/// payload of the `partnership.member_*` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberChange {
    /// The institution's slug.
    pub institution: String,
    pub from: MemberStatus,
    pub to: MemberStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks every (from, to) pair of a lifecycle against its allowed list,
    /// and checks each status reads back from its word (and nothing else
    /// reads as a status).
    fn walk<S: Copy + PartialEq + std::fmt::Debug>(
        all: &[S],
        allowed: &[(S, S)],
        can_become: fn(S, S) -> bool,
        word: fn(S) -> &'static str,
        parse: fn(&str) -> Option<S>,
    ) {
        for &from in all {
            for &to in all {
                assert_eq!(
                    can_become(from, to),
                    allowed.contains(&(from, to)),
                    "{} → {}",
                    word(from),
                    word(to)
                );
            }
            assert_eq!(parse(word(from)), Some(from));
        }
        for junk in ["", "Active", "pending", "unknown"] {
            assert_eq!(parse(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn the_partnership_lifecycle() {
        use PartnershipStatus::*;
        assert_eq!(
            PartnershipStatus::ALL,
            &[Proposed, Active, Concluded, Dissolved]
        );
        walk(
            PartnershipStatus::ALL,
            &[
                (Proposed, Active),
                (Active, Concluded),
                (Proposed, Dissolved),
                (Active, Dissolved),
            ],
            PartnershipStatus::can_become,
            PartnershipStatus::as_str,
            PartnershipStatus::parse,
        );
        assert!(Concluded.ended() && Dissolved.ended() && !Active.ended() && !Proposed.ended());
    }

    #[test]
    fn the_membership_lifecycle() {
        use MemberStatus::*;
        assert_eq!(
            MemberStatus::ALL,
            &[Invited, Active, Declined, Left, Removed]
        );
        walk(
            MemberStatus::ALL,
            &[
                (Invited, Active),
                (Invited, Declined),
                (Invited, Removed),
                (Active, Left),
                (Active, Removed),
            ],
            MemberStatus::can_become,
            MemberStatus::as_str,
            MemberStatus::parse,
        );
        let involved: Vec<MemberStatus> = MemberStatus::ALL
            .iter()
            .copied()
            .filter(|s| s.involved())
            .collect();
        assert_eq!(involved, [Invited, Active]);
    }
}
