//! Where emails go: SMTP (lettre, pooled), `.eml` files, or the log.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{MailSettings, MailTransport, SmtpSecurity};
use crate::db::outbox::Claimed;

/// Why a send failed: worth retrying or not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Connection refused or reset, timeouts, SMTP 4xx: try again later.
    #[error("transient: {0}")]
    Transient(String),
    /// SMTP 5xx, an address that cannot be used: never going to work.
    #[error("permanent: {0}")]
    Permanent(String),
}

#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(PathBuf),
    Log,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp(_) => f.write_str("Transport::Smtp"),
            Self::File(dir) => write!(f, "Transport::File({})", dir.display()),
            Self::Log => f.write_str("Transport::Log"),
        }
    }
}

impl Transport {
    pub fn from_settings(settings: &MailSettings, mail_dir: PathBuf) -> anyhow::Result<Self> {
        Ok(match settings.transport {
            MailTransport::File => Self::File(mail_dir),
            MailTransport::Log => Self::Log,
            MailTransport::Smtp => {
                let smtp = &settings.smtp;
                let host = smtp.host.as_str();
                let tls = || {
                    TlsParameters::new(host.to_string())
                        .map_err(|e| anyhow::anyhow!("mail.smtp: TLS set-up failed: {e}"))
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(smtp.port)
                    .timeout(Some(Duration::from_secs(smtp.timeout_secs)))
                    .pool_config(PoolConfig::new().max_size(smtp.pool_size));
                builder = match smtp.security {
                    SmtpSecurity::None => builder.tls(Tls::None),
                    SmtpSecurity::Starttls => builder.tls(Tls::Required(tls()?)),
                    SmtpSecurity::Tls => builder.tls(Tls::Wrapper(tls()?)),
                };
                if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        password.expose_secret().to_string(),
                    ));
                }
                Self::Smtp(builder.build())
            }
        })
    }

    /// Delivers one email.
    pub async fn send(&self, from: &Mailbox, email: &Claimed) -> Result<(), SendError> {
        let message = build_message(from, email)?;
        match self {
            Self::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
            Self::File(dir) => write_eml(dir, email, &message.formatted()).await,
            Self::Log => {
                tracing::info!(
                    to = %email.recipient,
                    subject = %email.subject,
                    message_id = %email.message_id,
                    "email (log transport)"
                );
                Ok(())
            }
        }
    }
}

/// The MIME message: plain text and HTML alternatives, the stable Message-ID.
pub fn build_message(from: &Mailbox, email: &Claimed) -> Result<Message, SendError> {
    let to: Mailbox = email
        .recipient
        .parse()
        .map_err(|e| SendError::Permanent(format!("bad recipient address: {e}")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .message_id(Some(email.message_id.clone()))
        .multipart(MultiPart::alternative_plain_html(
            email.text_body.clone(),
            email.html_body.clone(),
        ))
        .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
}

/// Writes `<dir>/<id>.eml` atomically (temp file, then rename).
async fn write_eml(dir: &std::path::Path, email: &Claimed, bytes: &[u8]) -> Result<(), SendError> {
    let io = |e: std::io::Error| SendError::Transient(format!("cannot write the mail file: {e}"));
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    let final_path = dir.join(format!("{}.eml", email.id));
    let tmp = dir.join(format!(".{}.eml.tmp", email.id));
    tokio::fs::write(&tmp, bytes).await.map_err(io)?;
    tokio::fs::rename(&tmp, &final_path).await.map_err(io)?;
    Ok(())
}
