//! Where rendered messages go: a real SMTP server, or `.eml` files for development.

use std::path::PathBuf;
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
    /// `url` is `smtp://host[:port]` (port 25 when absent): a relay inside the consular
    /// network, reached without TLS.
    pub fn smtp(url: &str, from: Mailbox, timeout: Duration) -> Result<Self, SendError> {
        let bad = || {
            SendError::Smtp(format!(
                "MAWID_SMTP_URL must look like smtp://host:port, got {url}"
            ))
        };
        let rest = url
            .strip_prefix("smtp://")
            .ok_or_else(bad)?
            .trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
            None => (rest, 25),
        };
        if host.is_empty() {
            return Err(bad());
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(timeout))
            .build();
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
            Self::Files { transport, .. } => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| SendError::File(e.to_string())),
        }
    }
}
