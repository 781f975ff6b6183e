//! The email outbox as a test reads it: what was queued for whom, and the
//! tokens the emails carry.

use super::app::TestApp;

impl TestApp {
    /// The newest outbox email of `template` to `recipient`: its id and
    /// data.
    async fn newest_email(&self, recipient: &str, template: &str) -> Option<(String, String)> {
        use diesel::prelude::*;
        use kujenga::db::schema::outbox_emails as oe;
        let (recipient, template) = (recipient.to_string(), template.to_string());
        self.db
            .run(move |conn| {
                oe::table
                    .filter(oe::recipient.eq(recipient))
                    .filter(oe::template.eq(template))
                    .order((oe::created_at.desc(), oe::id.desc()))
                    .select((oe::id, oe::data))
                    .first::<(String, String)>(conn)
                    .optional()
            })
            .await
            .expect("outbox query")
    }

    /// The text of sent email `id`, from the `.eml` file the worker wrote.
    fn sent_text(&self, id: &str) -> Option<String> {
        let path = self
            .database
            .data_dir()
            .join("mail")
            .join(format!("{id}.eml"));
        let text = std::fs::read_to_string(path).ok()?;
        Some(super::smtp::decode_qp(&text))
    }

    /// The newest outbox email of `template` to `recipient`: its data. Once
    /// an email is sent the outbox forgets its data, so the token of a
    /// delivered email is read back from the `.eml` file the worker wrote.
    pub async fn last_email_data(
        &self,
        recipient: &str,
        template: &str,
    ) -> Option<serde_json::Value> {
        let (id, data) = self.newest_email(recipient, template).await?;
        let data: serde_json::Value = serde_json::from_str(&data).expect("outbox data is JSON");
        if data.as_object().is_some_and(|o| !o.is_empty()) {
            return Some(data);
        }
        let text = self.sent_text(&id)?;
        let start = text.find("?token=")? + "?token=".len();
        let token: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        Some(serde_json::json!({ "token": token }))
    }

    /// How many outbox emails of `template` went to `recipient`.
    pub async fn count_emails(&self, recipient: &str, template: &str) -> i64 {
        use diesel::prelude::*;
        use kujenga::db::schema::outbox_emails as oe;
        let (recipient, template) = (recipient.to_string(), template.to_string());
        self.db
            .run(move |conn| {
                oe::table
                    .filter(oe::recipient.eq(recipient))
                    .filter(oe::template.eq(template))
                    .count()
                    .get_result::<i64>(conn)
            })
            .await
            .expect("outbox query")
    }

    /// Waits (up to 10 s) until at least `n` outbox emails of `template`
    /// went to `recipient` (a password reset queues its email after
    /// answering), and returns how many there are.
    pub async fn wait_emails(&self, recipient: &str, template: &str, n: i64) -> i64 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let count = self.count_emails(recipient, template).await;
            if count >= n || std::time::Instant::now() > deadline {
                return count;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Asks for a password reset link and waits until its email is queued.
    pub async fn reset_password_email(&self, email: &str) -> String {
        let before = self.count_emails(email, "password_reset").await;
        let res = self
            .post_json(
                "/api/v1/auth/password-reset",
                serde_json::json!({"email": email}),
                None,
            )
            .await;
        assert_eq!(res.status(), 202, "password reset for {email}");
        assert!(
            self.wait_emails(email, "password_reset", before + 1).await > before,
            "no reset email for {email}"
        );
        self.last_email_data(email, "password_reset")
            .await
            .expect("reset email")["token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// What the newest `template` email to `recipient` says: its outbox data
    /// while it is queued, the `.eml` file the worker wrote once it is sent
    /// (waiting up to 10 s for it).
    pub async fn email_text(&self, recipient: &str, template: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (id, data) = self
                .newest_email(recipient, template)
                .await
                .expect("an email in the outbox");
            let parsed: serde_json::Value =
                serde_json::from_str(&data).expect("outbox data is JSON");
            if parsed.as_object().is_some_and(|o| !o.is_empty()) {
                return data;
            }
            if let Some(text) = self.sent_text(&id) {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no text for email {id}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}
