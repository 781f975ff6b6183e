//! Partnerships' lifecycles as pure tables: a partnership goes
//! proposed → active → concluded, or is dissolved from proposed or active;
//! a member institution goes invited → active | declined | removed, and
//! active → left | removed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnershipStatus {
    Proposed,
    Active,
    Concluded,
    Dissolved,
}

impl PartnershipStatus {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "active" => Self::Active,
            "concluded" => Self::Concluded,
            "dissolved" => Self::Dissolved,
            _ => Self::Proposed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Active => "active",
            Self::Concluded => "concluded",
            Self::Dissolved => "dissolved",
        }
    }

    pub fn ended(self) -> bool {
        matches!(self, Self::Concluded | Self::Dissolved)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Invited,
    Active,
    Declined,
    Left,
    Removed,
}

impl MemberStatus {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "active" => Self::Active,
            "declined" => Self::Declined,
            "left" => Self::Left,
            "removed" => Self::Removed,
            _ => Self::Invited,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Active => "active",
            Self::Declined => "declined",
            Self::Left => "left",
            Self::Removed => "removed",
        }
    }
}

impl PartnershipStatus {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks every (from, to) pair of a lifecycle against its allowed list,
    /// and checks each status reads back from its word.
    fn walk<S: Copy + PartialEq + std::fmt::Debug>(
        all: &[S],
        allowed: &[(S, S)],
        can_become: fn(S, S) -> bool,
        word: fn(S) -> &'static str,
        parse: fn(&str) -> S,
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
            assert_eq!(parse(word(from)), from);
        }
    }

    #[test]
    fn the_partnership_lifecycle() {
        use PartnershipStatus::*;
        walk(
            &[Proposed, Active, Concluded, Dissolved],
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
        walk(
            &[Invited, Active, Declined, Left, Removed],
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
    }
}
