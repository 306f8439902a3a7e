//! Mail as citizens get it: the app's own mail, delivered into its folder by the real worker,
//! and the parts of a raw message a test reads.

use std::path::Path;

use super::TestApp;

impl TestApp {
    /// Every delivered message to `to`, oldest first, as raw RFC 5322 text.
    pub async fn mails_to(&self, to: &str) -> Vec<String> {
        self.deliver_mail().await;
        read_mails(&self.mail_dir, to)
    }

    /// The token in the last mail to `to`.
    pub async fn last_token_for(&self, to: &str) -> String {
        let mails = self.mails_to(to).await;
        let mail = mails.last().unwrap_or_else(|| panic!("no mail to {to}"));
        extract_token(mail).unwrap_or_else(|| panic!("no token in mail:\n{mail}"))
    }
}

fn read_mails(dir: &Path, to: &str) -> Vec<String> {
    let mut mails: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .filter_map(|e| {
                    let text = std::fs::read_to_string(e.path()).ok()?;
                    let modified = e.metadata().ok()?.modified().ok()?;
                    Some((modified, text))
                })
                .filter(|(_, text)| text.lines().any(|l| l.starts_with("To:") && l.contains(to)))
                .collect()
        })
        .unwrap_or_default();
    mails.sort_by_key(|(t, _)| *t);
    mails.into_iter().map(|(_, m)| m).collect()
}

/// The decoded plain-text part of a raw message.
pub fn text_body(mail: &str) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(mail.as_bytes())
        .expect("a parseable message");
    msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
}

/// The decoded HTML part of a raw message.
pub fn html_body(mail: &str) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(mail.as_bytes())
        .expect("a parseable message");
    msg.body_html(0).map(|t| t.into_owned()).unwrap_or_default()
}

/// A 43-character URL-safe token (256 bits, unpadded base64) in the mail's decoded text.
pub fn extract_token(mail: &str) -> Option<String> {
    text_body(mail)
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .find(|w| w.len() == 43)
        .map(str::to_owned)
}

impl TestApp {
    /// The decoded reading copies (`.txt` beside each `.eml`) of the mails to `to`.
    pub async fn reading_copies_to(&self, to: &str) -> Vec<String> {
        self.deliver_mail().await;
        std::fs::read_dir(&self.mail_dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "txt"))
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter(|t| t.lines().any(|l| l.starts_with("To:") && l.contains(to)))
                    .collect()
            })
            .unwrap_or_default()
    }
}
