//! The change feed's rules, without the database: what a subject is, who
//! may see it (its *audience*), which audiences a caller belongs to (their
//! *keys*), and the feed's cursors. docs/FEED.md explains the whole design.
//!
//! An audience is a set of keys; a caller sees a subject when one of their
//! keys is in its audience (admins see every subject that exists). The keys
//! restate `policy::resource_visible` (and the institution, enrollment,
//! access-request and notification reads) as set membership, so that the
//! audience a subject had at an earlier change can be stored and compared:
//!
//! | key | who holds it | in the audience of |
//! | --- | --- | --- |
//! | `pub` | everyone | a published or archived `public` resource of a verified institution; a verified institution |
//! | `reg` | anyone signed in | the same with `registered` visibility |
//! | `m:<inst>` | a member of the institution (any role) | every resource of it that is not a draft; the institution |
//! | `e:<inst>` | its owners and editors | every resource of it (drafts too); access requests for its datasets |
//! | `p:<partnership>` | a member of an institution that is an active member of the active partnership | a published or archived `partnership` resource of a verified institution shared into it while its own institution is an active member |
//! | `u:<user>` | that person | their enrollments, access requests and notifications |
//! | `admin` | platform administrators | (everything) |

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::resource::{Status, Visibility};

crate::domain::word::word_enum!(
    /// What a change is about.
    SubjectKind {
        Course => "course",
        Dataset => "dataset",
        ModelCard => "model_card",
        Institution => "institution",
        Enrollment => "enrollment",
        AccessRequest => "access_request",
        Notification => "notification",
    }
);

impl SubjectKind {
    /// The subject kind of a resource kind.
    pub fn of_resource(kind: crate::domain::resource::ResourceKind) -> Self {
        use crate::domain::resource::ResourceKind as K;
        match kind {
            K::Course => Self::Course,
            K::Dataset => Self::Dataset,
            K::ModelCard => Self::ModelCard,
        }
    }

    /// Whether the subject is a course, dataset or model card.
    pub fn is_resource(self) -> bool {
        matches!(self, Self::Course | Self::Dataset | Self::ModelCard)
    }
}

/// The key everyone holds.
pub const PUBLIC: &str = "pub";
/// The key of everyone signed in.
pub const SIGNED_IN: &str = "reg";
/// The key of platform administrators.
pub const ADMIN: &str = "admin";

pub fn member_key(institution_id: &str) -> String {
    format!("m:{institution_id}")
}

pub fn editor_key(institution_id: &str) -> String {
    format!("e:{institution_id}")
}

pub fn partnership_key(partnership_id: &str) -> String {
    format!("p:{partnership_id}")
}

pub fn user_key(user_id: &str) -> String {
    format!("u:{user_id}")
}

/// A set of keys: an audience, or what a caller holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys(BTreeSet<String>);

impl Keys {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, key: impl Into<String>) {
        self.0.insert(key.into());
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether the two share a key.
    pub fn meets(&self, other: &Keys) -> bool {
        let (small, large) = if self.0.len() <= other.0.len() {
            (self, other)
        } else {
            (other, self)
        };
        small.0.iter().any(|k| large.0.contains(k))
    }

    /// The keys in one and not the other, both ways.
    pub fn difference(&self, other: &Keys) -> Keys {
        Keys(self.0.symmetric_difference(&other.0).cloned().collect())
    }

    /// The stored form: the keys space-separated and framed by spaces
    /// (`" m:a pub "`), so `LIKE '% key %'` finds one; `""` when empty.
    pub fn to_text(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let mut out = String::from(" ");
        for k in &self.0 {
            out.push_str(k);
            out.push(' ');
        }
        out
    }

    pub fn from_text(text: &str) -> Self {
        Self(text.split_ascii_whitespace().map(str::to_string).collect())
    }
}

impl FromIterator<String> for Keys {
    fn from_iter<T: IntoIterator<Item = String>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// Who may see a resource, from the same facts `policy::resource_visible`
/// reads. `partnerships`: the active partnerships it is shared into in which
/// its institution is an active member.
pub fn resource_audience(
    institution_id: &str,
    institution_verified: bool,
    status: Status,
    visibility: Visibility,
    partnerships: &[String],
) -> Keys {
    let mut a = Keys::new();
    a.insert(editor_key(institution_id));
    if matches!(status, Status::Draft | Status::Deaccessioned) {
        return a;
    }
    a.insert(member_key(institution_id));
    if institution_verified {
        match visibility {
            Visibility::Public => a.insert(PUBLIC),
            Visibility::Registered => a.insert(SIGNED_IN),
            Visibility::Institution => {}
            Visibility::Partnership => {
                for p in partnerships {
                    a.insert(partnership_key(p));
                }
            }
        }
    }
    a
}

/// Who may see an institution: everyone once it is verified, its members always.
pub fn institution_audience(institution_id: &str, verified: bool) -> Keys {
    let mut a = Keys::new();
    a.insert(member_key(institution_id));
    if verified {
        a.insert(PUBLIC);
    }
    a
}

/// Who may see an access request: its requester and the deciders (owners
/// and editors) of the dataset's institution.
pub fn access_request_audience(requester_id: &str, dataset_institution: Option<&str>) -> Keys {
    let mut a = Keys::new();
    a.insert(user_key(requester_id));
    if let Some(i) = dataset_institution {
        a.insert(editor_key(i));
    }
    a
}

/// A person's own things (enrollments, notifications).
pub fn own_audience(user_id: &str) -> Keys {
    let mut a = Keys::new();
    a.insert(user_key(user_id));
    a
}

/// The keys a person holds through memberships, partnerships and their
/// platform role (what the projection stores per person).
pub fn person_keys(roles: &[(String, String)], partnerships: &[String], admin: bool) -> Keys {
    let mut k = Keys::new();
    for (institution, role) in roles {
        k.insert(member_key(institution));
        if role == "owner" || role == "editor" {
            k.insert(editor_key(institution));
        }
    }
    for p in partnerships {
        k.insert(partnership_key(p));
    }
    if admin {
        k.insert(ADMIN);
    }
    k
}

/// Every key a caller holds: the stored ones plus those of being anyone,
/// signed in, and themselves.
pub fn caller_keys(user_id: Option<&str>, stored: &Keys) -> Keys {
    let mut k = stored.clone();
    k.insert(PUBLIC);
    if let Some(u) = user_id {
        k.insert(SIGNED_IN);
        k.insert(user_key(u));
    }
    k
}

/// Whether a caller with `keys` sees a subject with `audience`. An empty
/// audience is a subject that does not exist (any more).
pub fn sees(keys: &Keys, audience: &Keys) -> bool {
    if audience.is_empty() {
        return false;
    }
    keys.contains(ADMIN) || keys.meets(audience)
}

/// Where a reader of the feed stands: every change up to event `seq` is
/// behind it, and at `seq` itself the subjects up to `after`
/// (`kind/id`, in that order) are too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub seq: i64,
    pub after: Option<String>,
}

impl Cursor {
    pub fn at(seq: i64) -> Self {
        Self { seq, after: None }
    }

    /// The opaque form given to clients.
    pub fn encode(&self) -> String {
        let text = match &self.after {
            None => format!("f1.{}", self.seq),
            Some(a) => format!("f1.{}.{a}", self.seq),
        };
        URL_SAFE_NO_PAD.encode(text)
    }

    /// `None` for anything this feed did not give out.
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.is_empty() || raw.len() > 512 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let rest = text.strip_prefix("f1.")?;
        let (seq, after) = match rest.split_once('.') {
            Some((s, a)) => (s, Some(a)),
            None => (rest, None),
        };
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) || seq.len() > 18 {
            return None;
        }
        let seq: i64 = seq.parse().ok()?;
        let after = match after {
            None => None,
            Some(a) => {
                let (kind, id) = a.split_once('/')?;
                SubjectKind::parse(kind)?;
                if id.is_empty() || id.len() > 200 || id.chars().any(|c| c.is_control()) {
                    return None;
                }
                Some(a.to_string())
            }
        };
        Some(Self { seq, after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Keys {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cursors_round_trip_and_refuse_foreign_text() {
        for c in [
            Cursor::at(0),
            Cursor::at(42),
            Cursor {
                seq: 7,
                after: Some("course/0190-ab".into()),
            },
        ] {
            assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        for bad in [
            "",
            "x",
            "%%%",
            &URL_SAFE_NO_PAD.encode("f1."),
            &URL_SAFE_NO_PAD.encode("f1.-3"),
            &URL_SAFE_NO_PAD.encode("f2.3"),
            &URL_SAFE_NO_PAD.encode("f1.3.nokind"),
            &URL_SAFE_NO_PAD.encode("f1.3.planet/x"),
            &URL_SAFE_NO_PAD.encode("f1.99999999999999999999"),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn audiences_follow_the_visibility_rule() {
        use crate::domain::Role;
        use crate::domain::policy::{
            Actor, InstitutionFacts, InstitutionRole, ResourceFacts, resource_visible,
        };
        let statuses = Status::ALL;
        let visibilities = [
            Visibility::Public,
            Visibility::Registered,
            Visibility::Institution,
            Visibility::Partnership,
        ];
        let roles = [
            None,
            Some(InstitutionRole::Member),
            Some(InstitutionRole::Editor),
            Some(InstitutionRole::Owner),
        ];
        for &status in statuses {
            for visibility in visibilities {
                for verified in [false, true] {
                    for role in roles {
                        for shared in [false, true] {
                            for signed_in in [false, true] {
                                let facts = ResourceFacts {
                                    institution: InstitutionFacts {
                                        verified,
                                        caller_role: role,
                                    },
                                    status,
                                    visibility,
                                    shared_with_caller: shared,
                                };
                                let actor = if signed_in {
                                    Actor {
                                        role: Some(Role::Member),
                                        verified: true,
                                    }
                                } else {
                                    Actor::ANONYMOUS
                                };
                                if !signed_in && (role.is_some() || shared) {
                                    continue;
                                }
                                let audience = resource_audience(
                                    "i",
                                    verified,
                                    status,
                                    visibility,
                                    &["p".into()],
                                );
                                let roles: Vec<(String, String)> = role
                                    .map(|r| vec![("i".to_string(), r.as_str().to_string())])
                                    .unwrap_or_default();
                                let partnerships: Vec<String> =
                                    if shared { vec!["p".into()] } else { vec![] };
                                let stored = person_keys(&roles, &partnerships, false);
                                let user = signed_in.then_some("u1");
                                assert_eq!(
                                    sees(&caller_keys(user, &stored), &audience),
                                    resource_visible(&actor, &facts),
                                    "{status:?} {visibility:?} verified={verified} {role:?} shared={shared} signed_in={signed_in}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn keys_text_round_trips_and_admins_see_what_exists() {
        let k = keys(&["pub", "m:a", "e:a"]);
        assert_eq!(k.to_text(), " e:a m:a pub ");
        assert_eq!(Keys::from_text(&k.to_text()), k);
        assert_eq!(Keys::new().to_text(), "");
        let admin = keys(&["admin"]);
        assert!(sees(&admin, &keys(&["e:x"])));
        assert!(!sees(&admin, &Keys::new()));
        assert_eq!(
            keys(&["a", "b"]).difference(&keys(&["b", "c"])),
            keys(&["a", "c"])
        );
    }
}
