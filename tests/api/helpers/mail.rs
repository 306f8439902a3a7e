//! Mail as citizens get it: the app's own mail, delivered into its folder by the real worker,
//! and the parts of a raw message a test reads.

use std::path::Path;

use super::TestApp;

impl TestApp {
    /// Every delivered message to `to`, oldest first (those of one delivery pass in no set
    /// order), as raw RFC 5322 text.
    pub async fn mails_to(&self, to: &str) -> Vec<String> {
        self.deliver_mail().await;
        read_mails(self.mail_dir.path(), to)
            .into_iter()
            .map(|m| m.text)
            .collect()
    }

    /// The token in the last mail to `to`. Mails due at one instant (the test clock stands still)
    /// go out in one pass in no set order, so when this delivery brings `to` more than one mail,
    /// "the last" is a coin toss: that is a mistake in the test, and it fails here every time.
    pub async fn last_token_for(&self, to: &str) -> String {
        let before: Vec<_> = read_mails(self.mail_dir.path(), to)
            .into_iter()
            .map(|m| m.name)
            .collect();
        self.deliver_mail().await;
        let mut mails = read_mails(self.mail_dir.path(), to);
        let fresh: Vec<&Mail> = mails.iter().filter(|m| !before.contains(&m.name)).collect();
        assert!(
            fresh.len() <= 1,
            "{} mails to {to} went out in one pass, in no set order; deliver the earlier ones first",
            fresh.len()
        );
        let mail = match fresh.first() {
            Some(m) => m.text.clone(),
            None => {
                mails
                    .pop()
                    .unwrap_or_else(|| panic!("no mail to {to}"))
                    .text
            }
        };
        extract_token(&mail).unwrap_or_else(|| panic!("no token in mail:\n{mail}"))
    }
}

struct Mail {
    name: std::ffi::OsString,
    modified: std::time::SystemTime,
    text: String,
}

/// The mails to `to` in the folder, in the order they were written (a pass writes its mails
/// side by side, so theirs is any): the raw messages (`eml`) or their reading copies (`txt`).
fn read_mails_as(dir: &Path, to: &str, extension: &str) -> Vec<Mail> {
    let mut mails: Vec<Mail> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == extension))
                .filter_map(|e| {
                    Some(Mail {
                        text: std::fs::read_to_string(e.path()).ok()?,
                        modified: e.metadata().ok()?.modified().ok()?,
                        name: e.file_name(),
                    })
                })
                .filter(|m| {
                    m.text
                        .lines()
                        .any(|l| l.starts_with("To:") && l.contains(to))
                })
                .collect()
        })
        .unwrap_or_default();
    mails.sort_by_key(|m| m.modified);
    mails
}

fn read_mails(dir: &Path, to: &str) -> Vec<Mail> {
    read_mails_as(dir, to, "eml")
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
    /// The decoded reading copies (`.txt` beside each `.eml`) of the mails to `to`, oldest first.
    pub async fn reading_copies_to(&self, to: &str) -> Vec<String> {
        self.deliver_mail().await;
        read_mails_as(self.mail_dir.path(), to, "txt")
            .into_iter()
            .map(|m| m.text)
            .collect()
    }
}
