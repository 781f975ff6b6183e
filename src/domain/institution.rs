//! Institutions: their kinds, and the lifecycles of a membership and of an
//! invitation as pure tables.
//!
//! A person's standing in an institution is `None` (not a member) or the
//! role they hold. Joining (creating the institution, accepting an
//! invitation) moves `None → role`; owners change roles `role → role`; a
//! removal or leaving moves `role → None`. A move that takes away an owner
//! needs another owner to remain: the application counts the owners (under a
//! lock) only when the table says the move takes one away.
//!
//! An invitation is `pending`, then `accepted`, `withdrawn` (by an owner or
//! editor, or replaced by a new invitation of the same address) or
//! `expired`; those three are final. There is no status column: the status
//! is read from the row's `accepted_at`, `withdrawn_at` and `expires_at`.

use serde::{Deserialize, Serialize};

use crate::domain::policy::InstitutionRole;
use crate::domain::word::word_enum;

word_enum!(InstitutionKind {
    University => "university",
    ResearchLab => "research_lab",
    Ngo => "ngo",
    Government => "government",
    Company => "company",
    Other => "other",
});

/// What an update changed in an institution (the payload of
/// `institution.updated`): the new name, country, kind and website, each
/// null when unchanged (a removed website is null too: `website_changed`
/// tells), whether the description changed, and whether the change sent the
/// institution back for verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionChange {
    pub unverified: bool,
    pub name: Option<String>,
    pub country: Option<String>,
    pub kind: Option<InstitutionKind>,
    pub website: Option<String>,
    pub website_changed: bool,
    pub description_changed: bool,
}

/// A member and their role: the payload of `membership.added`, `.left` and
/// `.removed` (the role they joined with, or had).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRole {
    pub user_id: String,
    pub role: InstitutionRole,
}

/// What a membership move is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipMove {
    /// Not a member before: now a member with this role.
    Joined(InstitutionRole),
    /// The role changed.
    RoleChanged {
        from: InstitutionRole,
        to: InstitutionRole,
    },
    /// Stays as it was (nothing to write, nothing to record).
    Unchanged(InstitutionRole),
    /// The membership ended (removed, or left); the role they had.
    Ended(InstitutionRole),
}

impl MembershipMove {
    /// Whether the move takes an owner away, so that it is allowed only while
    /// the institution has another owner.
    pub fn takes_an_owner(self) -> bool {
        use InstitutionRole::Owner;
        match self {
            Self::RoleChanged { from, to } => from == Owner && to != Owner,
            Self::Ended(role) => role == Owner,
            Self::Joined(_) | Self::Unchanged(_) => false,
        }
    }
}

/// The move from standing `from` to standing `to`; `None` when there is no
/// membership before or after (nothing to change: the person is not a
/// member).
pub fn membership_move(
    from: Option<InstitutionRole>,
    to: Option<InstitutionRole>,
) -> Option<MembershipMove> {
    match (from, to) {
        (None, None) => None,
        (None, Some(role)) => Some(MembershipMove::Joined(role)),
        (Some(from), Some(to)) if from == to => Some(MembershipMove::Unchanged(to)),
        (Some(from), Some(to)) => Some(MembershipMove::RoleChanged { from, to }),
        (Some(role), None) => Some(MembershipMove::Ended(role)),
    }
}

/// The role someone holds after accepting an invitation for `invited`:
/// never a demotion (a higher role they hold already stays).
pub fn role_on_accepting(
    current: Option<InstitutionRole>,
    invited: InstitutionRole,
) -> InstitutionRole {
    current.map_or(invited, |c| c.max(invited))
}

word_enum!(
    /// Where an invitation stands.
    InvitationStatus {
        Pending => "pending",
        Accepted => "accepted",
        Withdrawn => "withdrawn",
        Expired => "expired",
    }
);

impl InvitationStatus {
    /// The status of an invitation from its row's facts. An accepted or
    /// withdrawn invitation stays so after its expiry time.
    pub fn of(accepted: bool, withdrawn: bool, expired: bool) -> Self {
        if accepted {
            Self::Accepted
        } else if withdrawn {
            Self::Withdrawn
        } else if expired {
            Self::Expired
        } else {
            Self::Pending
        }
    }

    /// Whether an invitation in this status may move to `to`.
    pub fn can_become(self, to: Self) -> bool {
        use InvitationStatus::{Accepted, Expired, Pending, Withdrawn};
        matches!((self, to), (Pending, Accepted | Withdrawn | Expired))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InstitutionRole::{Editor, Member, Owner};

    /// One (from, to) pair of standings: what the move is, and whether it
    /// needs another owner to remain.
    struct Case {
        from: Option<InstitutionRole>,
        to: Option<InstitutionRole>,
        step: Option<MembershipMove>,
        needs_another_owner: bool,
    }

    const fn case(
        from: Option<InstitutionRole>,
        to: Option<InstitutionRole>,
        step: Option<MembershipMove>,
        needs_another_owner: bool,
    ) -> Case {
        Case {
            from,
            to,
            step,
            needs_another_owner,
        }
    }

    #[test]
    fn the_membership_lifecycle() {
        use MembershipMove::{Ended, Joined, RoleChanged, Unchanged};
        let changed = |from, to| Some(RoleChanged { from, to });
        let cases = [
            case(None, None, None, false),
            case(None, Some(Member), Some(Joined(Member)), false),
            case(None, Some(Editor), Some(Joined(Editor)), false),
            case(None, Some(Owner), Some(Joined(Owner)), false),
            case(Some(Member), None, Some(Ended(Member)), false),
            case(Some(Member), Some(Member), Some(Unchanged(Member)), false),
            case(Some(Member), Some(Editor), changed(Member, Editor), false),
            case(Some(Member), Some(Owner), changed(Member, Owner), false),
            case(Some(Editor), None, Some(Ended(Editor)), false),
            case(Some(Editor), Some(Member), changed(Editor, Member), false),
            case(Some(Editor), Some(Editor), Some(Unchanged(Editor)), false),
            case(Some(Editor), Some(Owner), changed(Editor, Owner), false),
            case(Some(Owner), None, Some(Ended(Owner)), true),
            case(Some(Owner), Some(Member), changed(Owner, Member), true),
            case(Some(Owner), Some(Editor), changed(Owner, Editor), true),
            case(Some(Owner), Some(Owner), Some(Unchanged(Owner)), false),
        ];
        let standings = [None, Some(Member), Some(Editor), Some(Owner)];
        for from in standings {
            for to in standings {
                let c = cases
                    .iter()
                    .find(|c| c.from == from && c.to == to)
                    .unwrap_or_else(|| panic!("no case for {from:?} → {to:?}"));
                let step = membership_move(from, to);
                assert_eq!(step, c.step, "{from:?} → {to:?}");
                assert_eq!(
                    step.is_some_and(MembershipMove::takes_an_owner),
                    c.needs_another_owner,
                    "{from:?} → {to:?}"
                );
            }
        }
        assert_eq!(cases.len(), standings.len() * standings.len());
    }

    #[test]
    fn accepting_never_demotes() {
        for invited in InstitutionRole::ALL.iter().copied() {
            assert_eq!(role_on_accepting(None, invited), invited);
            for current in InstitutionRole::ALL.iter().copied() {
                let role = role_on_accepting(Some(current), invited);
                assert_eq!(
                    role,
                    current.max(invited),
                    "{current:?} invited {invited:?}"
                );
                assert!(role >= current);
            }
        }
        assert!(Member < Editor && Editor < Owner);
    }

    #[test]
    fn the_invitation_lifecycle() {
        use InvitationStatus::{Accepted, Expired, Pending, Withdrawn};
        let allowed = [
            (Pending, Accepted),
            (Pending, Withdrawn),
            (Pending, Expired),
        ];
        for &from in InvitationStatus::ALL {
            for &to in InvitationStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{} → {}",
                    from.as_str(),
                    to.as_str()
                );
            }
            assert_eq!(InvitationStatus::parse(from.as_str()), Some(from));
        }
        // Read from the row: accepted and withdrawn win over the clock.
        assert_eq!(InvitationStatus::of(false, false, false), Pending);
        assert_eq!(InvitationStatus::of(false, false, true), Expired);
        assert_eq!(InvitationStatus::of(true, false, true), Accepted);
        assert_eq!(InvitationStatus::of(false, true, true), Withdrawn);
    }

    #[test]
    fn kinds_and_roles_are_words() {
        for &k in InstitutionKind::ALL {
            assert_eq!(InstitutionKind::parse(k.as_str()), Some(k));
        }
        for &r in InstitutionRole::ALL {
            assert_eq!(InstitutionRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(InstitutionKind::parse("ministry"), None);
        assert_eq!(InstitutionRole::parse("admin"), None);
    }
}
