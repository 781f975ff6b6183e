//! Email that is never lost: callers enqueue inside their own database
//! transaction (the transactional outbox); a worker delivers later, with
//! retries, through the configured transport.
//!
//! ```text
//! db.run(move |conn| write_transaction(conn, |conn| {
//!     change_something(conn)?;
//!     outbox.enqueue(conn, Email::new("amina@example.org", Template::VerifyEmail, data))?;
//!     Ok(())
//! }))
//! ```
//! If the transaction rolls back, no email exists; if it commits, exactly
//! one does (a `dedupe_key` makes a second enqueue of the same logical email
//! a no-op).

pub mod templates;
pub mod transport;
pub mod worker;

use std::cell::Cell;

use lettre::message::Mailbox;

use crate::config::MailSettings;
use crate::db::DbConnection;
use crate::db::outbox::{self, NewEmail};
pub use templates::{Rendered, Template, Templates};

/// One email to send.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub template: Template,
    pub data: serde_json::Value,
    /// The same key twice enqueues once.
    pub dedupe_key: Option<String>,
    /// The recipient's account, when they have one.
    pub user_id: Option<String>,
    /// A registered client app's link base to use instead of the
    /// platform's frontend URL (`app::clients::link_base`).
    pub link_base: Option<String>,
}

impl Email {
    pub fn new(to: impl Into<String>, template: Template, data: serde_json::Value) -> Self {
        Self {
            to: to.into(),
            template,
            data,
            dedupe_key: None,
            user_id: None,
            link_base: None,
        }
    }

    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    pub fn for_user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Links in this email start with `base` (a client app's registered
    /// link base) instead of the platform's frontend URL; `None` keeps it.
    pub fn with_link_base(mut self, base: Option<String>) -> Self {
        self.link_base = base;
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("email template {template} failed to render: {source}")]
    Render {
        template: &'static str,
        source: minijinja::Error,
    },
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

thread_local! {
    static ENQUEUED: Cell<bool> = const { Cell::new(false) };
}

/// Tells `Db::run` that an email became due on this thread (wake the worker).
pub fn mark_enqueued() {
    ENQUEUED.with(|f| f.set(true));
}

/// Whether this thread enqueued an email since the last call (and resets
/// the flag). `Db::run` uses it to wake the worker.
pub fn take_enqueued_flag() -> bool {
    ENQUEUED.with(|f| f.replace(false))
}

/// Renders and stores emails; shared by everything that sends one.
#[derive(Debug)]
pub struct Outbox {
    templates: Templates,
    domain: String,
    max_attempts: i32,
}

impl Outbox {
    pub fn new(
        settings: &MailSettings,
        platform_name: &str,
        frontend_url: &str,
    ) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail.from: {e}"))?;
        Ok(Self {
            templates: Templates::new(platform_name, frontend_url)?,
            domain: from.email.domain().to_string(),
            max_attempts: i32::try_from(settings.max_attempts).unwrap_or(i32::MAX),
        })
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// Writes the email into the outbox on `conn`, inside whatever
    /// transaction the caller has open. Returns `false` if an email with
    /// the same `dedupe_key` already exists.
    pub fn enqueue(&self, conn: &mut DbConnection, email: Email) -> Result<bool, EnqueueError> {
        let rendered = self
            .templates
            .render_with_base(email.template, &email.data, email.link_base.as_deref())
            .map_err(|source| EnqueueError::Render {
                template: email.template.name(),
                source,
            })?;
        let id = uuid::Uuid::now_v7().to_string();
        let message_id = format!("<{id}@{}>", self.domain);
        let now = crate::db::now();
        let data = email.data.to_string();
        let inserted = outbox::insert(
            conn,
            &NewEmail {
                id: &id,
                message_id: &message_id,
                dedupe_key: email.dedupe_key.as_deref(),
                recipient: &email.to,
                user_id: email.user_id.as_deref(),
                template: email.template.name(),
                data: &data,
                subject: &rendered.subject,
                text_body: &rendered.text,
                html_body: &rendered.html,
                status: outbox::QUEUED,
                attempts: 0,
                max_attempts: self.max_attempts,
                next_attempt_at: now,
                created_at: now,
                updated_at: now,
            },
        )?;
        if inserted {
            mark_enqueued();
        }
        Ok(inserted)
    }
}
