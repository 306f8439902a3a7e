//! Turns an outbox row (kind, language, payload) into a multipart message.

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use mawid_domain::account::Language;
use serde_json::Value;

use crate::transport::SendError;

pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn field<'a>(payload: &'a Value, key: &str) -> &'a str {
    payload.get(key).and_then(Value::as_str).unwrap_or("")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render(kind: &str, language: Language, payload: &Value) -> Rendered {
    let name = field(payload, "full_name");
    let token = field(payload, "token");
    let (subject, greeting, body) = match (kind, language) {
        ("verify_email", Language::Ar) => (
            "تأكيد بريدك الإلكتروني",
            format!("مرحبًا {name}،"),
            "لتأكيد بريدك الإلكتروني في موعد استخدم هذا الرمز:",
        ),
        ("verify_email", Language::Ru) => (
            "Подтвердите адрес электронной почты",
            format!("Здравствуйте, {name}!"),
            "Чтобы подтвердить адрес в Mawid, используйте этот код:",
        ),
        ("verify_email", Language::En) => (
            "Confirm your email address",
            format!("Hello {name},"),
            "To confirm your email address for Mawid, use this code:",
        ),
        ("password_reset", Language::Ar) => (
            "إعادة تعيين كلمة المرور",
            format!("مرحبًا {name}،"),
            "لإعادة تعيين كلمة المرور استخدم هذا الرمز خلال ساعة واحدة:",
        ),
        ("password_reset", Language::Ru) => (
            "Сброс пароля",
            format!("Здравствуйте, {name}!"),
            "Чтобы сбросить пароль, используйте этот код в течение часа:",
        ),
        ("password_reset", Language::En) => (
            "Reset your password",
            format!("Hello {name},"),
            "To reset your password, use this code within one hour:",
        ),
        (_, _) => (
            "Mawid",
            format!("Hello {name},"),
            "You have a new message from Mawid.",
        ),
    };
    let text = format!("{greeting}\n\n{body}\n\n{token}\n");
    let (dir, lang) = match language {
        Language::Ar => ("rtl", "ar"),
        Language::Ru => ("ltr", "ru"),
        Language::En => ("ltr", "en"),
    };
    let html = format!(
        "<!doctype html><html dir=\"{dir}\" lang=\"{lang}\"><body><p>{}</p><p>{}</p><p><code>{}</code></p></body></html>",
        escape(&greeting),
        escape(body),
        escape(token)
    );
    Rendered {
        subject: subject.to_owned(),
        text,
        html,
    }
}

pub fn message(
    from: &Mailbox,
    to: &str,
    r: Rendered,
    message_id: String,
) -> Result<Message, SendError> {
    let to: Mailbox = to
        .parse()
        .map_err(|e: lettre::address::AddressError| SendError::Build(e.to_string()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(r.subject)
        .message_id(Some(message_id))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(r.text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(r.html),
                ),
        )
        .map_err(|e| SendError::Build(e.to_string()))
}
