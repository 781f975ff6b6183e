//! Email templates: a subject, a plain-text and an HTML part per email,
//! from the files under `templates/email/` (compiled into the binary).
//! HTML is auto-escaped; undefined variables are errors, so a caller that
//! forgets a field fails when it enqueues, not when the email goes out.

use minijinja::{Environment, UndefinedBehavior, context};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Every email Kujenga sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    VerifyEmail,
    PasswordReset,
    RegistrationAttempt,
    PasswordChanged,
    ApiTokenCreated,
    Invitation,
    MembershipAdded,
    MemberRoleChanged,
    MemberRemoved,
    InstitutionVerified,
    EnrollmentConfirmed,
    CourseCompleted,
    PartnershipInvitation,
    PartnershipResponse,
    PartnershipMembershipEnded,
    PartnershipStatusChanged,
    PartnershipSharedDigest,
    AccessRequested,
    AccessDecided,
    AccessEnded,
    AccessReminder,
    DatasetDates,
    CourseNewVersion,
    WebhookDisabled,
}

macro_rules! template_files {
    ($($name:literal),* $(,)?) => {
        &[$(
            (concat!($name, ".subject.txt"), include_str!(concat!("../../templates/email/", $name, ".subject.txt"))),
            (concat!($name, ".txt"), include_str!(concat!("../../templates/email/", $name, ".txt"))),
            (concat!($name, ".html"), include_str!(concat!("../../templates/email/", $name, ".html"))),
        )*]
    };
}

const FILES: &[(&str, &str)] = template_files!(
    "verify_email",
    "password_reset",
    "registration_attempt",
    "password_changed",
    "api_token_created",
    "invitation",
    "membership_added",
    "member_role_changed",
    "member_removed",
    "institution_verified",
    "enrollment_confirmed",
    "course_completed",
    "partnership_invitation",
    "partnership_response",
    "partnership_membership_ended",
    "partnership_status_changed",
    "partnership_shared_digest",
    "access_requested",
    "access_decided",
    "access_ended",
    "access_reminder",
    "dataset_dates",
    "course_new_version",
    "webhook_disabled"
);
const LAYOUT: &str = include_str!("../../templates/email/_layout.html");

impl Template {
    pub const ALL: &'static [Template] = &[
        Template::VerifyEmail,
        Template::PasswordReset,
        Template::RegistrationAttempt,
        Template::PasswordChanged,
        Template::ApiTokenCreated,
        Template::Invitation,
        Template::MembershipAdded,
        Template::MemberRoleChanged,
        Template::MemberRemoved,
        Template::InstitutionVerified,
        Template::EnrollmentConfirmed,
        Template::CourseCompleted,
        Template::PartnershipInvitation,
        Template::PartnershipResponse,
        Template::PartnershipMembershipEnded,
        Template::PartnershipStatusChanged,
        Template::PartnershipSharedDigest,
        Template::AccessRequested,
        Template::AccessDecided,
        Template::AccessEnded,
        Template::AccessReminder,
        Template::DatasetDates,
        Template::CourseNewVersion,
        Template::WebhookDisabled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::RegistrationAttempt => "registration_attempt",
            Self::PasswordChanged => "password_changed",
            Self::ApiTokenCreated => "api_token_created",
            Self::Invitation => "invitation",
            Self::MembershipAdded => "membership_added",
            Self::MemberRoleChanged => "member_role_changed",
            Self::MemberRemoved => "member_removed",
            Self::InstitutionVerified => "institution_verified",
            Self::EnrollmentConfirmed => "enrollment_confirmed",
            Self::CourseCompleted => "course_completed",
            Self::PartnershipInvitation => "partnership_invitation",
            Self::PartnershipResponse => "partnership_response",
            Self::PartnershipMembershipEnded => "partnership_membership_ended",
            Self::PartnershipStatusChanged => "partnership_status_changed",
            Self::PartnershipSharedDigest => "partnership_shared_digest",
            Self::AccessRequested => "access_requested",
            Self::AccessDecided => "access_decided",
            Self::AccessEnded => "access_ended",
            Self::AccessReminder => "access_reminder",
            Self::DatasetDates => "dataset_dates",
            Self::CourseNewVersion => "course_new_version",
            Self::WebhookDisabled => "webhook_disabled",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// Security emails: always sent, whatever the recipient's preferences.
    pub fn essential(self) -> bool {
        matches!(
            self,
            Self::VerifyEmail
                | Self::PasswordReset
                | Self::RegistrationAttempt
                | Self::PasswordChanged
                | Self::Invitation
        )
    }

    /// Example data, for `kujenga mail preview` and the template tests.
    pub fn example(self) -> serde_json::Value {
        match self {
            Self::VerifyEmail => json!({
                "display_name": "Amina Wanjiru",
                "token": "vK3p_example-token",
                "expires_in_hours": 48
            }),
            Self::PasswordReset => json!({
                "display_name": "Amina Wanjiru",
                "token": "rS9q_example-token",
                "expires_in_minutes": 60
            }),
            Self::RegistrationAttempt | Self::PasswordChanged => {
                json!({ "display_name": "Amina Wanjiru" })
            }
            Self::ApiTokenCreated => {
                json!({ "display_name": "Amina Wanjiru", "token_name": "lab sync script" })
            }
            Self::Invitation => json!({
                "inviter": "Kofi Mensah",
                "institution": "Makerere AI Lab",
                "role": "editor",
                "token": "iN7v_example-token",
                "expires_in_days": 7
            }),
            Self::MembershipAdded | Self::InstitutionVerified => json!({
                "display_name": "Amina Wanjiru",
                "institution": "Makerere AI Lab",
                "slug": "makerere-ai-lab",
                "role": "editor"
            }),
            Self::MemberRoleChanged => json!({
                "display_name": "Amina Wanjiru",
                "institution": "Makerere AI Lab",
                "slug": "makerere-ai-lab",
                "role": "owner",
                "previous_role": "editor"
            }),
            Self::MemberRemoved => json!({
                "display_name": "Amina Wanjiru",
                "institution": "Makerere AI Lab"
            }),
            Self::EnrollmentConfirmed => json!({
                "display_name": "Amina Wanjiru",
                "course": "Machine learning in Kiswahili",
                "course_id": "01938a7e-0000-7000-8000-000000000001",
                "modules": 6,
                "download_bytes": 52_428_800,
                "download_mb": 50
            }),
            Self::PartnershipInvitation => json!({
                "display_name": "Amina Wanjiru", "inviter": "Kofi Mensah",
                "institution": "Makerere AI Lab", "partnership": "East–West African NLP",
                "slug": "ew-african-nlp"
            }),
            Self::PartnershipResponse => json!({
                "display_name": "Kofi Mensah", "institution": "Makerere AI Lab",
                "response": "accepted", "partnership": "East–West African NLP",
                "slug": "ew-african-nlp"
            }),
            Self::PartnershipMembershipEnded => json!({
                "display_name": "Kofi Mensah", "institution": "Makerere AI Lab",
                "how": "left", "partnership": "East–West African NLP", "slug": "ew-african-nlp"
            }),
            Self::PartnershipStatusChanged => json!({
                "display_name": "Amina Wanjiru", "partnership": "East–West African NLP",
                "slug": "ew-african-nlp", "status": "active"
            }),
            Self::PartnershipSharedDigest => json!({
                "display_name": "Amina Wanjiru", "partnership": "East–West African NLP",
                "slug": "ew-african-nlp",
                "resources": [{"id": "01938a7e-0000-7000-8000-000000000002", "title": "Swahili speech corpus"}]
            }),
            Self::AccessRequested => json!({
                "display_name": "Kofi Mensah", "requester": "Amina Wanjiru",
                "institution": "Makerere AI Lab", "owner_institution": "Ghana NLP",
                "dataset": "Twi speech corpus", "duration_days": 90,
                "purpose": "Fine-tuning a speech recogniser for community radio transcripts.",
                "request_id": "01938a7e-0000-7000-8000-000000000003"
            }),
            Self::AccessDecided => json!({
                "display_name": "Amina Wanjiru", "dataset": "Twi speech corpus",
                "owner_institution": "Ghana NLP", "decision": "approved",
                "note": "Please cite the corpus paper.", "expires_at": "2027-03-01 12:00",
                "request_id": "01938a7e-0000-7000-8000-000000000003"
            }),
            Self::AccessEnded => json!({
                "display_name": "Amina Wanjiru", "dataset": "Twi speech corpus",
                "owner_institution": "Ghana NLP", "how": "revoked",
                "note": "The consent terms changed.",
                "request_id": "01938a7e-0000-7000-8000-000000000003"
            }),
            Self::AccessReminder => json!({
                "display_name": "Kofi Mensah", "after_days": 7, "expire_days": 30,
                "requests": [{"id": "01938a7e-0000-7000-8000-000000000003",
                              "dataset": "Twi speech corpus", "requester": "Amina Wanjiru",
                              "created_on": "2026-11-20"}]
            }),
            Self::DatasetDates => json!({
                "display_name": "Amina Wanjiru", "dataset": "Twi speech corpus",
                "dataset_id": "01938a7e-0000-7000-8000-000000000005",
                "what": "embargo_lifted", "file": null, "date": "2027-03-01", "days": 0
            }),
            Self::CourseNewVersion => json!({
                "display_name": "Amina Wanjiru", "course": "Machine learning in Kiswahili",
                "course_id": "01938a7e-0000-7000-8000-000000000001",
                "version": "2.0", "your_version": "1.3",
                "note": "Two new modules on speech; the evaluation module rewritten."
            }),
            Self::WebhookDisabled => json!({
                "display_name": "Amina Wanjiru", "owner": "Makerere AI Lab",
                "url": "https://lms.example.org/kujenga-hooks",
                "reason": "50 failed attempts in a row",
                "webhook_id": "01938a7e-0000-7000-8000-000000000004"
            }),
            Self::CourseCompleted => json!({
                "display_name": "Amina Wanjiru",
                "course": "Machine learning in Kiswahili",
                "course_id": "01938a7e-0000-7000-8000-000000000001",
                "completion_id": "5f0c2a4e-8d1b-4f6a-9c3e-2b7d1e9a4c60"
            }),
        }
    }
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The template set plus the values every email gets.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    platform_name: String,
    frontend_url: String,
}

impl Templates {
    pub fn new(platform_name: &str, frontend_url: &str) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_template("_layout.html", LAYOUT)?;
        for (name, source) in FILES {
            env.add_template(name, source)?;
        }
        // The URL as `url` serialises it (quotes and spaces percent-encoded),
        // so it is safe to put into HTML attributes unescaped.
        let frontend_url = url::Url::parse(frontend_url)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| frontend_url.to_string());
        Ok(Self {
            env,
            platform_name: platform_name.to_string(),
            frontend_url: frontend_url.trim_end_matches('/').to_string(),
        })
    }

    pub fn render(
        &self,
        template: Template,
        data: &serde_json::Value,
    ) -> Result<Rendered, minijinja::Error> {
        self.render_with_base(template, data, None)
    }

    /// [`Templates::render`] with the links under `link_base` (a client
    /// app's registered base, already normalised and safe for HTML
    /// attributes: `domain::client::parse_link_base`) when given.
    pub fn render_with_base(
        &self,
        template: Template,
        data: &serde_json::Value,
        link_base: Option<&str>,
    ) -> Result<Rendered, minijinja::Error> {
        let base = link_base
            .map(|b| b.trim_end_matches('/').to_string())
            .unwrap_or_else(|| self.frontend_url.clone());
        let ctx = context! {
            platform_name => &self.platform_name,
            frontend_url => minijinja::Value::from_safe_string(base),
            ..minijinja::Value::from_serialize(data)
        };
        let part = |suffix: &str| {
            self.env
                .get_template(&format!("{}.{suffix}", template.name()))
                .and_then(|t| t.render(&ctx))
        };
        // A subject is one line, whatever the data holds.
        let subject = part("subject.txt")?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Rendered {
            subject,
            text: part("txt")?,
            html: part("html")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Templates {
        Templates::new("Kujenga", "https://learn.example.org/").unwrap()
    }

    #[test]
    fn every_template_renders_its_example() {
        let t = templates();
        for template in Template::ALL {
            let r = t.render(*template, &template.example()).unwrap();
            assert!(
                !r.subject.is_empty() && !r.subject.contains('\n'),
                "{template:?}"
            );
            assert!(r.text.contains("Kujenga"), "{template:?}");
            assert!(r.html.contains("<html"), "{template:?}");
            assert!(
                !r.html.contains("{{") && !r.text.contains("{{"),
                "{template:?}"
            );
            assert_eq!(Template::parse(template.name()), Some(*template));
        }
    }

    #[test]
    fn links_carry_the_token_under_the_frontend_url() {
        let r = templates()
            .render(
                Template::VerifyEmail,
                &json!({"display_name": "A", "token": "a b&c", "expires_in_hours": 48}),
            )
            .unwrap();
        assert!(
            r.text
                .contains("https://learn.example.org/verify-email?token=a%20b%26c"),
            "{}",
            r.text
        );
        assert!(
            r.html
                .contains("https://learn.example.org/verify-email?token=a%20b%26c")
        );
    }

    #[test]
    fn a_link_base_replaces_the_frontend_url() {
        let r = templates()
            .render_with_base(
                Template::PasswordReset,
                &Template::PasswordReset.example(),
                Some("https://app.partner.example/learn"),
            )
            .unwrap();
        for part in [&r.text, &r.html] {
            assert!(
                part.contains("https://app.partner.example/learn/reset-password?token="),
                "{part}"
            );
            assert!(!part.contains("learn.example.org"), "{part}");
        }
    }

    #[test]
    fn html_is_escaped_and_subjects_are_one_line() {
        let r = templates()
            .render(
                Template::RegistrationAttempt,
                &json!({"display_name": "<script>alert(1)</script>"}),
            )
            .unwrap();
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(
            r.text.contains("<script>"),
            "plain text is not HTML-escaped"
        );
    }

    #[test]
    fn missing_data_is_an_error() {
        let err = templates().render(Template::VerifyEmail, &json!({"display_name": "A"}));
        assert!(err.is_err());
    }
}
