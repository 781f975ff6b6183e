//! Dataset access requests: their states and the moves between them.
//!
//! `pending → approved | rejected | withdrawn | expired` and
//! `approved → revoked | expired`; everything else is final. The commands
//! (`app::access`) and the periodic job ask `transition` before they write,
//! and write with the old status as a condition, so two racing decisions
//! cannot both land.

use crate::domain::word::word_enum;

word_enum!(
    /// Where an access request stands.
    RequestStatus {
        Pending => "pending",
        Approved => "approved",
        Rejected => "rejected",
        Withdrawn => "withdrawn",
        Revoked => "revoked",
        Expired => "expired",
    }
);

word_enum!(
    /// What the deciders decided (kept whatever happens to the grant later).
    Decision {
        Approved => "approved",
        Rejected => "rejected",
    }
);

/// What can happen to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The deciders grant it.
    Approve,
    /// The deciders turn it down.
    Reject,
    /// The requester takes it back.
    Withdraw,
    /// The owners end a grant early.
    Revoke,
    /// Time ran out: a grant reached `expires_at`, or nobody decided in time.
    Expire,
}

impl Event {
    pub const ALL: [Event; 5] = [
        Event::Approve,
        Event::Reject,
        Event::Withdraw,
        Event::Revoke,
        Event::Expire,
    ];

    /// The verb, for messages and audit actions.
    pub fn verb(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::Withdraw => "withdraw",
            Self::Revoke => "revoke",
            Self::Expire => "expire",
        }
    }
}

impl Event {
    /// The past participle, for messages ("cannot be approved").
    pub fn past(self) -> &'static str {
        match self {
            Self::Approve => "approved",
            Self::Reject => "rejected",
            Self::Withdraw => "withdrawn",
            Self::Revoke => "revoked",
            Self::Expire => "expired",
        }
    }
}

impl Event {
    /// The decision a move records, if it is one (approve, reject).
    pub fn decision(self) -> Option<Decision> {
        match self {
            Self::Approve => Some(Decision::Approved),
            Self::Reject => Some(Decision::Rejected),
            Self::Withdraw | Self::Revoke | Self::Expire => None,
        }
    }
}

/// The status `event` leads to from `from`, or `None` when it is not allowed.
pub fn transition(from: RequestStatus, event: Event) -> Option<RequestStatus> {
    use Event::{Approve, Expire, Reject, Revoke, Withdraw};
    use RequestStatus::{Approved, Expired, Pending, Rejected, Revoked, Withdrawn};
    match (from, event) {
        (Pending, Approve) => Some(Approved),
        (Pending, Reject) => Some(Rejected),
        (Pending, Withdraw) => Some(Withdrawn),
        (Pending, Expire) | (Approved, Expire) => Some(Expired),
        (Approved, Revoke) => Some(Revoked),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event::{Approve, Expire, Reject, Revoke, Withdraw};
    use RequestStatus::{Approved, Expired, Pending, Rejected, Revoked, Withdrawn};

    /// Every (status, event) pair: the allowed ones and where they lead;
    /// every other pair is refused.
    #[test]
    fn the_state_machine() {
        let allowed = [
            (Pending, Approve, Approved),
            (Pending, Reject, Rejected),
            (Pending, Withdraw, Withdrawn),
            (Pending, Expire, Expired),
            (Approved, Revoke, Revoked),
            (Approved, Expire, Expired),
        ];
        let mut checked = 0;
        for &from in RequestStatus::ALL {
            for event in Event::ALL {
                let expected = allowed
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|(_, _, to)| *to);
                assert_eq!(
                    transition(from, event),
                    expected,
                    "{} on a {} request",
                    event.verb(),
                    from.as_str()
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 30);
        // The final states stay final.
        for from in [Rejected, Withdrawn, Revoked, Expired] {
            assert!(Event::ALL.iter().all(|e| transition(from, *e).is_none()));
        }
    }

    /// Only approving and rejecting record a decision, and it is the status
    /// they lead to.
    #[test]
    fn decisions_are_the_statuses_they_lead_to() {
        for event in Event::ALL {
            match event.decision() {
                Some(d) => assert_eq!(
                    transition(Pending, event).map(RequestStatus::as_str),
                    Some(d.as_str()),
                    "{}",
                    event.verb()
                ),
                None => assert!(matches!(event, Withdraw | Revoke | Expire)),
            }
        }
    }
}
