//! Where rendered messages go: a real SMTP server, or `.eml` files for development.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        send_timeout: Duration,
        from: Mailbox,
    },
    Files {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
        from: Mailbox,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A temporary refusal (4xx) or a connection problem: worth another attempt later.
    #[error("smtp: {0}")]
    Smtp(String),
    /// A permanent refusal (5xx): the same message would be refused again.
    #[error("smtp rejected: {0}")]
    Rejected(String),
    #[error("smtp send timed out after {0:?}")]
    Timeout(Duration),
    #[error("file: {0}")]
    File(String),
    /// The message could not be built (e.g. an invalid recipient address): permanent.
    #[error("message: {0}")]
    Build(String),
}

impl SendError {
    /// Whether trying again later could succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Rejected(_) | Self::Build(_))
    }
}

impl Mailer {
    /// `url` in lettre's form: `smtp://host[:port]` (port 25, no TLS: a relay inside the
    /// consular network), `smtp://host[:port]?tls=required` (STARTTLS, port 587) or
    /// `smtps://user:pass@host[:port]` (TLS from the start, port 465); credentials in the URL
    /// are percent-decoded and sent with AUTH.
    pub fn smtp(url: &str, from: Mailbox, timeout: Duration) -> Result<Self, SendError> {
        // lettre's message names the scheme at most, never the URL (it may carry a password).
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| {
            SendError::Smtp(format!(
                "MAWID_SMTP_URL must look like smtp://host:port, smtp://host?tls=required or smtps://user:pass@host: {e}"
            ))
        })?;
        let transport = builder.timeout(Some(timeout)).build();
        Ok(Self::Smtp {
            transport,
            send_timeout: timeout,
            from,
        })
    }

    pub fn files(dir: impl Into<PathBuf>, from: Mailbox) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self::Files {
            transport: AsyncFileTransport::new(&dir),
            dir,
            from,
        })
    }

    pub fn from(&self) -> &Mailbox {
        match self {
            Self::Smtp { from, .. } | Self::Files { from, .. } => from,
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            // lettre's own timeout covers only the connect; a server that stalls mid-dialogue
            // would otherwise hold the worker forever.
            Self::Smtp {
                transport,
                send_timeout,
                ..
            } => match tokio::time::timeout(*send_timeout * 2, transport.send(message)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) if e.is_permanent() => Err(SendError::Rejected(e.to_string())),
                Ok(Err(e)) => Err(SendError::Smtp(e.to_string())),
                Err(_) => Err(SendError::Timeout(*send_timeout * 2)),
            },
            Self::Files { transport, dir, .. } => {
                let id = transport
                    .send(message)
                    .await
                    .map_err(|e| SendError::File(e.to_string()))?;
                // The mail is written; a missing reading copy must not send it a second time.
                if let Err(e) = write_reading_copy(dir, &id) {
                    tracing::warn!(error = %e, id, "could not write the .txt copy of a mail file");
                }
                Ok(())
            }
        }
    }
}

/// Beside each `<id>.eml`, an `<id>.txt` holding its headers and its plain-text part decoded:
/// an Arabic or Russian mail's body is base64 in the `.eml`, so a developer (or `grep`) reads
/// the verification code only in the copy.
fn write_reading_copy(dir: &Path, id: &str) -> std::io::Result<()> {
    let eml = std::fs::read(dir.join(format!("{id}.eml")))?;
    let Some(parsed) = mail_parser::MessageParser::default().parse(&eml) else {
        return Err(std::io::Error::other("the written mail does not parse"));
    };
    let addresses = |a: Option<&mail_parser::Address<'_>>| {
        a.map(|a| {
            a.iter()
                .filter_map(|m| m.address())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
    };
    let text = format!(
        "From: {}\nTo: {}\nSubject: {}\n\n{}\n",
        addresses(parsed.from()),
        addresses(parsed.to()),
        parsed.subject().unwrap_or_default(),
        parsed.body_text(0).unwrap_or_default(),
    );
    std::fs::write(dir.join(format!("{id}.txt")), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(url: &str) -> Result<Mailer, SendError> {
        let from = "Mawid <no-reply@mawid.test>".parse().unwrap();
        Mailer::smtp(url, from, Duration::from_secs(1))
    }

    // The connection pool spawns its upkeep task, so the transports are built on a runtime.
    #[tokio::test]
    async fn plain_starttls_and_tls_relay_urls_are_accepted() {
        for url in [
            "smtp://127.0.0.1:1025",
            "smtp://relay.consulate.internal",
            "smtp://user:p%40ss@relay.example:587?tls=required",
            "smtps://user:pass@relay.example",
        ] {
            assert!(smtp(url).is_ok(), "{url}");
        }
    }

    #[tokio::test]
    async fn a_mail_file_gets_a_decoded_text_copy_beside_it() {
        let dir = std::env::temp_dir().join(format!("mawid-mail-{}", uuid::Uuid::new_v4()));
        let from: Mailbox = "Mawid <no-reply@mawid.test>".parse().unwrap();
        let mailer = Mailer::files(&dir, from.clone()).unwrap();
        let body = "رمز التحقق: AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde";
        let message = Message::builder()
            .from(from)
            .to("layla@example.com".parse().unwrap())
            .subject("تأكيد البريد الإلكتروني")
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .header(lettre::message::header::ContentTransferEncoding::Base64)
            .body(body.to_owned())
            .unwrap();
        mailer.send(message).await.unwrap();
        let files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let eml = files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == "eml"))
            .unwrap();
        let txt = std::fs::read_to_string(eml.with_extension("txt")).unwrap();
        assert!(!std::fs::read_to_string(eml).unwrap().contains(body));
        assert!(txt.contains(body), "{txt}");
        assert!(txt.contains("To: layla@example.com"), "{txt}");
        assert!(txt.contains("Subject: تأكيد البريد الإلكتروني"), "{txt}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_bad_relay_url_is_refused_without_echoing_its_password() {
        for url in [
            "http://relay.example",
            "smtps://user:hunter2@",
            "relay.example:25",
        ] {
            let Err(e) = smtp(url) else {
                panic!("{url} accepted")
            };
            let e = e.to_string();
            assert!(e.contains("MAWID_SMTP_URL"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
