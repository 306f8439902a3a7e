//! A minimal SMTP server on loopback, and relays that refuse or hang, for delivery over a real
//! SMTP conversation.

use std::sync::{Arc, Mutex};

/// A message as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The DATA section with dot-stuffing undone: the raw RFC 5322 message.
    pub data: String,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .expect("a parseable message")
    }

    pub fn message_id(&self) -> String {
        self.parsed().message_id().expect("a Message-ID").to_owned()
    }
}

#[derive(Default)]
struct SinkState {
    received: Vec<Received>,
    /// Replies to give at the end of the next DATA sections, in order; 250 once empty.
    data_replies: std::collections::VecDeque<u16>,
    count: Option<Arc<tokio::sync::watch::Sender<usize>>>,
}

/// A minimal SMTP server on loopback (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT),
/// enough for lettre's client and for tests that need a real conversation over TCP.
pub struct SmtpSink {
    pub port: u16,
    state: Arc<Mutex<SinkState>>,
    /// How many messages were accepted so far; lets a test wait for mail without sleeping.
    count: tokio::sync::watch::Receiver<usize>,
    accept: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Listens on 127.0.0.1:`port` (0 picks a free one).
    pub async fn start_on(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the sink's port is free");
        let port = listener.local_addr().unwrap().port();
        let (count_tx, count) = tokio::sync::watch::channel(0);
        let state = Arc::new(Mutex::new(SinkState {
            count: Some(Arc::new(count_tx)),
            ..SinkState::default()
        }));
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(sink_session(stream, shared.clone()));
            }
        });
        Self {
            port,
            state,
            count,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The next DATA sections are answered with these codes (e.g. 451, 550), then 250 again.
    /// [`ACCEPT_UNANSWERED`] keeps the message and drops the connection before answering.
    pub fn answer_data_with(&self, codes: &[u16]) {
        self.state
            .lock()
            .unwrap()
            .data_replies
            .extend(codes.iter().copied());
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until at least `n` messages were accepted (panics after 10 s).
    pub async fn wait_for(&self, n: usize) {
        let mut count = self.count.clone();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            count.wait_for(|c| *c >= n),
        )
        .await
        .unwrap_or_else(|_| panic!("{n} messages did not arrive"))
        .unwrap();
    }

    pub fn received_by(&self, to: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r == to))
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A reply "code" for [`SmtpSink::answer_data_with`]: the relay took the message, and the
/// connection broke before its 250 reached the sender (who must assume it was not sent).
pub const ACCEPT_UNANSWERED: u16 = 0;

/// A loopback port with nothing listening on it: connecting is refused.
pub fn unused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn angle_addr(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg[start..].find('>').map_or(arg.len(), |i| start + i);
    arg[start..end].to_owned()
}

async fn sink_session(stream: tokio::net::TcpStream, state: Arc<Mutex<SinkState>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut from = String::new();
    let mut rcpt = Vec::new();
    if write.write_all(b"220 mawid-sink ESMTP\r\n").await.is_err() {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let cmd = line.trim_end().to_owned();
        let verb = cmd
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => "250-mawid-sink\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n".into(),
            "HELO" => "250 mawid-sink\r\n".into(),
            "MAIL" => {
                from = angle_addr(&cmd);
                rcpt.clear();
                "250 2.1.0 OK\r\n".into()
            }
            "RCPT" => {
                rcpt.push(angle_addr(&cmd));
                "250 2.1.5 OK\r\n".into()
            }
            "DATA" => {
                if write
                    .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut data = String::new();
                loop {
                    line.clear();
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // RFC 5321 §4.5.2: a leading dot was doubled by the client.
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let code = {
                    let mut s = state.lock().unwrap();
                    let code = s.data_replies.pop_front().unwrap_or(250);
                    if code == 250 || code == ACCEPT_UNANSWERED {
                        s.received.push(Received {
                            mail_from: from.clone(),
                            rcpt_to: rcpt.clone(),
                            data,
                        });
                        let n = s.received.len();
                        if let Some(tx) = &s.count {
                            tx.send_replace(n);
                        }
                    }
                    code
                };
                from.clear();
                rcpt.clear();
                if code == ACCEPT_UNANSWERED {
                    return;
                }
                match code {
                    250 => "250 2.0.0 queued\r\n".into(),
                    c if c < 500 => format!("{c} 4.3.0 try again later\r\n"),
                    c => format!("{c} 5.1.1 mailbox unavailable\r\n"),
                }
            }
            "RSET" => {
                from.clear();
                rcpt.clear();
                "250 2.0.0 OK\r\n".into()
            }
            "NOOP" => "250 2.0.0 OK\r\n".into(),
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                return;
            }
            _ => "502 5.5.2 command not recognised\r\n".into(),
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A server that accepts connections and never says a word: an SMTP relay that hangs.
pub async fn silent_smtp_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (port, task)
}
