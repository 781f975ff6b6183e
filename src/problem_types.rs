//! The problem catalogue: every `type` Kujenga answers with
//! (`urn:kujenga:problem:<slug>`), one variant each, with the statuses it
//! comes with, its title and what it means. Nothing else in the code writes
//! a problem type: errors name a variant (`ProblemType::LastOwner`), and the
//! OpenAPI description (`api::ApiDoc`) and `docs/PROBLEMS.md` list this
//! catalogue (tests keep all three equal).

use crate::error::PROBLEM_TYPE_PREFIX;

macro_rules! problem_types {
    ($(
        $(#[doc = $doc:literal])+
        $variant:ident = $slug:literal, [$($status:literal),+], $title:literal;
    )*) => {
        /// Every problem type the API can answer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemType {
            $( $(#[doc = $doc])+ $variant, )*
        }

        impl ProblemType {
            /// Every variant, in catalogue order.
            pub const ALL: &'static [ProblemType] = &[$(Self::$variant),*];

            /// The slug after `urn:kujenga:problem:`.
            pub fn slug(self) -> &'static str {
                match self { $( Self::$variant => $slug, )* }
            }

            /// The problem's `title`.
            pub fn title(self) -> &'static str {
                match self { $( Self::$variant => $title, )* }
            }

            /// The HTTP statuses this problem comes with.
            pub fn statuses(self) -> &'static [u16] {
                match self { $( Self::$variant => &[$($status),+], )* }
            }

            /// What it means, in a sentence.
            pub fn meaning(self) -> &'static str {
                match self { $( Self::$variant => concat!($($doc),+).trim_ascii(), )* }
            }
        }
    };
}

problem_types! {
    /// You asked for access to a dataset while a grant of yours is in force.
    AccessAlreadyGranted = "access-already-granted", [409], "You already have access";
    /// The grant a file link was issued under was revoked or has expired.
    AccessEnded = "access-ended", [410], "Your access has ended";
    /// The dataset is restricted: ask for access and download once its owners approve.
    AccessGrantRequired = "access-grant-required", [403], "Access to this dataset must be granted";
    /// The dataset is yours, or not restricted: no access request is needed.
    AccessRequestNotNeeded = "access-request-not-needed", [409], "No request is needed";
    /// A request of yours for this dataset is already pending.
    AccessRequestPending = "access-request-pending", [409], "You already asked";
    /// Only platform administrators may do this.
    AdminOnly = "admin-only", [403], "Administrators only";
    /// The person already coordinates the partnership.
    AlreadyCoordinator = "already-coordinator", [409], "Already a coordinator";
    /// The person or institution is already a member, or already invited.
    AlreadyMember = "already-member", [409], "Already a member";
    /// The resource is already shared into the partnership.
    AlreadyShared = "already-shared", [409], "Already shared";
    /// The email address is verified and no change of address is pending.
    AlreadyVerified = "already-verified", [409], "Nothing to verify";
    /// Only the partnership's coordinators (or platform coordinators, to create one) may do this.
    CoordinatorsOnly = "coordinators-only", [403], "Coordinators only";
    /// A request that used the session cookie failed the CSRF check: its Origin (or Referer) is not one of the client app's allowed origins, or the X-CSRF-Token header does not echo the kj_csrf cookie.
    CsrfFailed = "csrf-failed", [403], "Cross-site request refused";
    /// Only published datasets take access requests.
    DatasetNotPublished = "dataset-not-published", [409], "This dataset takes no access requests";
    /// The latest version cannot be withdrawn alone: publish a newer version first, or withdraw the whole resource.
    DeaccessionLatestVersion = "deaccession-latest-version", [409], "The latest version stays";
    /// The resource (or this version of it) was withdrawn by its owners; the body's `tombstone` says what it was, why and when, so citations still resolve.
    Deaccessioned = "deaccessioned", [410], "Withdrawn";
    /// The dataset's files are for signed-in users with a verified email address.
    DownloadNeedsAccount = "download-needs-account", [403], "Sign in to download";
    /// The resource is published, and a published version never changes: change the draft of its next version (the `Link` header with `rel="working-copy"` names it) and publish that.
    EditTheDraft = "edit-the-draft", [409], "Edit the draft of the next version";
    /// Verify your email address first: follow the link we sent you.
    EmailNotVerified = "email-not-verified", [403], "Email address not verified";
    /// The address can no longer be used for this account (taken meanwhile).
    EmailUnavailable = "email-unavailable", [409], "This address cannot be used";
    /// The dataset (or this file) is under embargo: its files are handed out from `embargo_until` on.
    Embargoed = "embargoed", [403], "Under embargo";
    /// Only published courses take new learners.
    EnrollmentClosed = "enrollment-closed", [409], "This course takes no new learners";
    /// The dataset no longer has the file a link points to.
    FileRemoved = "file-removed", [410], "The file was removed";
    /// The first request with this Idempotency-Key has not finished; retry shortly.
    IdempotencyKeyInUse = "idempotency-key-in-use", [409], "A request with this Idempotency-Key is in progress";
    /// The Idempotency-Key was used before for another request; use a new key.
    IdempotencyKeyReused = "idempotency-key-reused", [422], "Idempotency-Key reused with another request";
    /// Publishing needs the fields the `errors` list names.
    IncompleteResource = "incomplete-resource", [422], "The resource is not complete enough to publish";
    /// An institution with published resources cannot be deleted; archive them first.
    InstitutionHasResources = "institution-has-resources", [409], "The institution has published resources";
    /// The institution is not verified by an administrator: it cannot publish (403), or be invited into a partnership (422).
    InstitutionNotVerified = "institution-not-verified", [403, 422], "Institution not verified";
    /// Your role in the institution does not allow this action.
    InsufficientRole = "insufficient-role", [403], "Your role does not allow this";
    /// The API token's scope does not allow this (a `read` token cannot write).
    InsufficientScope = "insufficient-scope", [403], "The API token's scope does not allow this";
    /// The object's lifecycle does not allow this change from its current status.
    InvalidTransition = "invalid-transition", [409], "Not possible in this status";
    /// The invitation was sent to another address than the signed-in account's.
    InvitationForAnotherAddress = "invitation-for-another-address", [403], "This invitation is for another address";
    /// A partnership keeps at least one coordinator: add another first.
    LastCoordinator = "last-coordinator", [409], "The last coordinator";
    /// An institution keeps at least one owner: make someone else owner first.
    LastOwner = "last-owner", [409], "An institution needs an owner";
    /// The file link has expired; ask for a new one.
    LinkExpired = "link-expired", [410], "This link has expired";
    /// The request was made on behalf of an institution the requester no longer belongs to.
    NoLongerAMember = "no-longer-a-member", [403], "No longer a member of the institution";
    /// A partnership joins institutions from at least two countries.
    NotCrossBorder = "not-cross-border", [422], "A partnership needs institutions from two countries";
    /// Only emails that failed for good can be retried.
    NotDead = "not-dead", [409], "Only dead emails can be retried";
    /// A coordinator belongs to an active member institution, or is a platform coordinator.
    NotEligible = "not-eligible", [422], "Not eligible as a coordinator";
    /// Enroll in the course first.
    NotEnrolled = "not-enrolled", [409], "You are not enrolled";
    /// Nobody can change their own role or deactivate themselves.
    OwnAccount = "own-account", [403], "Not on your own account";
    /// Concluded and dissolved partnerships are read-only.
    PartnershipEnded = "partnership-ended", [409], "The partnership has ended";
    /// Archived resources can no longer be changed.
    ResourceArchived = "resource-archived", [409], "Archived resources are read-only";
    /// A published resource is archived, not deleted.
    ResourcePublished = "resource-published", [409], "Published resources are archived, not deleted";
    /// The change feed cannot continue from your cursor (older than the changes kept, or your view changed wholesale): fetch everything again and follow the feed from a new cursor.
    ResyncRequired = "resync-required", [410], "Sync again from the start";
    /// The dataset's retention period ended (`retention_until`): its files are no longer handed out.
    RetentionEnded = "retention-ended", [410], "The retention period ended";
    /// Sign in with your password to do this; API tokens cannot.
    SessionRequired = "session-required", [403], "Not allowed with an API token";
    /// Another object already uses this slug.
    SlugTaken = "slug-taken", [409], "This slug is taken";
    /// The If-Match header does not match the current version; fetch it again and retry.
    StaleVersion = "stale-version", [412], "The resource has changed";
    /// The dataset has as many files as it may have.
    TooManyFiles = "too-many-files", [409], "Too many files";
    /// The course has as many modules as it may have.
    TooManyModules = "too-many-modules", [409], "Too many modules";
    /// The dataset's transfer policy does not allow its data to go to the requester's country.
    TransferNotAllowed = "transfer-not-allowed", [403], "The dataset's transfer policy does not allow this";
    /// The request is not valid: `errors` lists each field and what is wrong with it.
    ValidationError = "validation-error", [400], "Your request is not valid";
}

impl ProblemType {
    /// The full `type` URI.
    pub fn uri(self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.slug())
    }

    /// The catalogue as a Markdown table (the OpenAPI description embeds it).
    pub fn markdown_table() -> String {
        let mut out =
            String::from("| type | status | title | meaning |\n| --- | --- | --- | --- |\n");
        for p in Self::ALL {
            let statuses: Vec<String> = p.statuses().iter().map(u16::to_string).collect();
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                p.uri(),
                statuses.join(", "),
                p.title(),
                p.meaning()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique_and_documented() {
        let doc = include_str!("../docs/PROBLEMS.md");
        let mut slugs: Vec<&str> = ProblemType::ALL.iter().map(|p| p.slug()).collect();
        for p in ProblemType::ALL {
            assert!(!p.meaning().is_empty(), "{p:?}");
            assert!(
                doc.contains(&format!("`{}`", p.uri())),
                "docs/PROBLEMS.md does not list {}",
                p.slug()
            );
        }
        let description = crate::api::openapi().info.description.unwrap_or_default();
        for p in ProblemType::ALL {
            assert!(description.contains(&p.uri()), "OpenAPI lacks {}", p.slug());
        }
        slugs.sort();
        let n = slugs.len();
        slugs.dedup();
        assert_eq!(slugs.len(), n);
    }
}
