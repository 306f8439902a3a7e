//! Turns an outbox row (kind, language, payload) into a message: subject, plain text, HTML and,
//! for appointment changes, a calendar invite.
//!
//! The wording lives in `templates/<language>/<kind>.{txt,html}` (minijinja, compiled into the
//! binary); this module only decodes the payload into the contract's types
//! (`mawid_domain::mail`) and prepares the values the templates print (dates in the office's
//! zone, names in the mail's language).

use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use mawid_domain::account::{Language, EMAIL_VERIFICATION_TTL_HOURS, PASSWORD_RESET_TTL_MINUTES};
use mawid_domain::appointment::CancelledBy;
pub use mawid_domain::mail::Kind;
use mawid_domain::mail::{AppointmentSummary, Notification, Service};
use minijinja::{context, Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;

use crate::dates::Local;
use crate::invite::{self, Invite};
use crate::transport::SendError;

/// Why a row cannot become a message. None of these heal on retry, so the worker fails the row
/// at once and leaves it for an admin to look at.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("unknown notification kind '{0}'")]
    UnknownKind(String),
    #[error("notifications.language holds an unknown value '{0}'")]
    UnknownLanguage(String),
    #[error("payload of {kind} does not match the contract: {problem}")]
    Payload { kind: &'static str, problem: String },
    #[error("template {name}: {error}")]
    Template { name: String, error: String },
}

#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub invite: Option<Invite>,
}

/// What rendering needs besides the row.
pub struct Context<'a> {
    /// The invite's DTSTAMP: when this version of the event was written.
    pub now: DateTime<Utc>,
    /// The invite's ORGANIZER.
    pub organizer: &'a Mailbox,
    pub recipient: &'a str,
}

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(
            (concat!("ar/", $name), include_str!(concat!("../templates/ar/", $name))),
            (concat!("ru/", $name), include_str!(concat!("../templates/ru/", $name))),
            (concat!("en/", $name), include_str!(concat!("../templates/en/", $name))),
        )*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates![
    "base.txt",
    "base.html",
    "details.html",
    "details.txt",
    "verify_email.txt",
    "verify_email.html",
    "password_reset.txt",
    "password_reset.html",
    "account_exists.txt",
    "account_exists.html",
    "appointment_booked.txt",
    "appointment_booked.html",
    "appointment_rescheduled.txt",
    "appointment_rescheduled.html",
    "appointment_cancelled.txt",
    "appointment_cancelled.html",
    "appointment_reminder.txt",
    "appointment_reminder.html",
    "document_status_changed.txt",
    "document_status_changed.html",
    "confirmation_request.txt",
    "confirmation_request.html",
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        // A misspelt variable must fail the render test, not print an empty string to a citizen.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            // The sources are compiled in; the unit tests render every one of them.
            #[allow(clippy::expect_used)]
            env.add_template(name, source)
                .expect("a bundled template does not parse");
        }
        env
    })
}

/// What the appointment templates print, already in the mail's language.
#[derive(Serialize)]
struct AppointmentView {
    reference: String,
    when: String,
    end_time: String,
    previous_when: Option<String>,
    office_name: String,
    office_address: String,
    service_name: String,
    documents: Vec<String>,
    /// `None` when the service is free.
    fee: Option<String>,
    applicant_name: Option<String>,
    cancelled_by_staff: bool,
    unconfirmed: bool,
    reason: Option<String>,
    from_waitlist: bool,
    /// For a confirmation request: when the window closes.
    confirm_until: Option<String>,
}

#[derive(Serialize)]
struct DocumentView {
    tracking_number: String,
    status: String,
    previous_status: Option<String>,
    public_note: Option<String>,
    when: String,
    service_name: String,
    office_name: String,
}

fn payload_error(kind: Kind, problem: impl ToString) -> RenderError {
    RenderError::Payload {
        kind: kind.code(),
        problem: problem.to_string(),
    }
}

fn fee(service: &Service) -> Option<String> {
    let amount = service.fee_amount.trim();
    // "0", "0.00": a free service says so instead of printing a zero fee.
    if amount.is_empty() || amount.chars().all(|c| c == '0' || c == '.') {
        return None;
    }
    Some(match service.fee_currency.trim() {
        "" => amount.to_owned(),
        cur => format!("{amount} {cur}"),
    })
}

/// Document-request statuses of product.md, named for the citizen.
fn status_label(language: Language, status: &str) -> String {
    let label = match (language, status) {
        (Language::En, "submitted") => "submitted",
        (Language::En, "under_review") => "under review",
        (Language::En, "awaiting_documents") => "awaiting documents from you",
        (Language::En, "approved") => "approved",
        (Language::En, "ready_for_pickup") => "ready for pickup",
        (Language::En, "collected") => "collected",
        (Language::En, "rejected") => "rejected",
        (Language::En, "cancelled") => "cancelled",
        (Language::Ru, "submitted") => "подана",
        (Language::Ru, "under_review") => "на рассмотрении",
        (Language::Ru, "awaiting_documents") => "ожидает ваших документов",
        (Language::Ru, "approved") => "одобрена",
        (Language::Ru, "ready_for_pickup") => "готова к выдаче",
        (Language::Ru, "collected") => "получена",
        (Language::Ru, "rejected") => "отклонена",
        (Language::Ru, "cancelled") => "отменена",
        (Language::Ar, "submitted") => "مقدَّم",
        (Language::Ar, "under_review") => "قيد الدراسة",
        (Language::Ar, "awaiting_documents") => "بانتظار وثائق منك",
        (Language::Ar, "approved") => "تمت الموافقة عليه",
        (Language::Ar, "ready_for_pickup") => "جاهز للاستلام",
        (Language::Ar, "collected") => "تم الاستلام",
        (Language::Ar, "rejected") => "مرفوض",
        (Language::Ar, "cancelled") => "ملغى",
        // A status added later still reaches the citizen, untranslated.
        (_, other) => other,
    };
    label.to_owned()
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

/// What a rescheduled or cancelled mail adds to the appointment it is about.
#[derive(Default)]
struct Changes {
    previous_start: Option<DateTime<FixedOffset>>,
    cancelled_by_staff: bool,
    unconfirmed: bool,
    reason: Option<String>,
    from_waitlist: bool,
    confirm_until: Option<DateTime<FixedOffset>>,
}

/// The template values of an appointment mail, and its invite when the kind carries one.
fn appointment(
    kind: Kind,
    name: &str,
    a: &AppointmentSummary,
    changes: Changes,
    language: Language,
    ctx: &Context<'_>,
    invite: &mut Option<Invite>,
) -> minijinja::Value {
    let start = Local::new(a.start, &a.timezone);
    let end = Local::new(a.end, &a.timezone);
    let previous = changes.previous_start.map(|at| Local::new(at, &a.timezone));
    let confirm_until = changes.confirm_until.map(|at| Local::new(at, &a.timezone));
    let office_address = a.office.address.get(language).to_owned();
    let view = AppointmentView {
        reference: a.reference.clone(),
        when: start.long(language),
        end_time: end.time(),
        previous_when: previous.map(|t| t.long(language)),
        office_name: a.office.name.get(language).to_owned(),
        office_address: office_address.clone(),
        service_name: a.service.name.get(language).to_owned(),
        documents: a
            .service
            .required_documents
            .iter()
            .map(|d| d.get(language).to_owned())
            .collect(),
        fee: fee(&a.service),
        applicant_name: non_empty(a.applicant_name.clone()),
        cancelled_by_staff: changes.cancelled_by_staff,
        unconfirmed: changes.unconfirmed,
        reason: non_empty(changes.reason),
        from_waitlist: changes.from_waitlist,
        confirm_until: confirm_until.map(|t| t.long(language)),
    };
    let method = match kind {
        Kind::AppointmentBooked | Kind::AppointmentRescheduled => Some(invite::Method::Request),
        Kind::AppointmentCancelled => Some(invite::Method::Cancel),
        _ => None,
    };
    *invite = method.map(|method| {
        invite::build(&invite::Event {
            method,
            uid: format!("{}@mawid", a.appointment_id),
            sequence: a.sequence,
            start: start.utc(),
            end: end.utc(),
            summary: &view.service_name,
            location: &office_address,
            description: &format!("{} — {}", view.reference, view.office_name),
            stamp: ctx.now,
            organizer: ctx.organizer,
            attendee: ctx.recipient,
        })
    });
    context! { name, a => view }
}

/// Renders the row. `payload` must decode as the contract's payload type for `kind`.
pub fn render(
    kind: &str,
    language: Language,
    payload: &Value,
    ctx: &Context<'_>,
) -> Result<Rendered, RenderError> {
    let kind = Kind::parse(kind).ok_or_else(|| RenderError::UnknownKind(kind.to_owned()))?;
    let mail = Notification::decode(kind, payload).map_err(|e| payload_error(kind, e))?;
    render_notification(&mail, language, ctx)
}

fn render_notification(
    mail: &Notification,
    language: Language,
    ctx: &Context<'_>,
) -> Result<Rendered, RenderError> {
    let kind = mail.kind();
    let name = mail.full_name();
    let mut invite = None;
    let mut for_appointment = |a: &AppointmentSummary, changes: Changes| {
        appointment(kind, name, a, changes, language, ctx, &mut invite)
    };
    let values = match mail {
        Notification::VerifyEmail(m) | Notification::PasswordReset(m) => context! {
            name,
            token => &m.token,
            ttl_hours => EMAIL_VERIFICATION_TTL_HOURS,
            ttl_minutes => PASSWORD_RESET_TTL_MINUTES,
        },
        Notification::AccountExists(_) => context! { name },
        Notification::AppointmentBooked(m) | Notification::AppointmentReminder(m) => {
            for_appointment(
                &m.appointment,
                Changes {
                    from_waitlist: m.from_waitlist,
                    ..Changes::default()
                },
            )
        }
        Notification::AppointmentRescheduled(m) => for_appointment(
            &m.appointment,
            Changes {
                previous_start: Some(m.previous_start),
                ..Changes::default()
            },
        ),
        Notification::AppointmentCancelled(m) => for_appointment(
            &m.appointment,
            Changes {
                cancelled_by_staff: m.cancelled_by == CancelledBy::Staff,
                unconfirmed: m.cancelled_by == CancelledBy::System,
                reason: m.reason.clone(),
                ..Changes::default()
            },
        ),
        Notification::ConfirmationRequest(m) => for_appointment(
            &m.appointment,
            Changes {
                confirm_until: Some(m.confirm_until),
                ..Changes::default()
            },
        ),
        Notification::DocumentStatusChanged(p) => {
            // The contract gives changed_at with the office's offset; a zone name, when sent,
            // also names the zone.
            let changed = Local::new(p.changed_at, p.timezone.as_deref().unwrap_or(""));
            let view = DocumentView {
                tracking_number: p.tracking_number.clone(),
                status: status_label(language, &p.status),
                previous_status: p
                    .previous_status
                    .as_deref()
                    .map(|s| status_label(language, s)),
                public_note: non_empty(p.public_note.clone()),
                when: changed.long(language),
                service_name: p.service.name.get(language).to_owned(),
                office_name: p.office.name.get(language).to_owned(),
            };
            context! { name, d => view }
        }
    };

    let env = env();
    let base = format!("{}/{}", language.code(), kind.code());
    let template_error = |name: &str, e: minijinja::Error| RenderError::Template {
        name: name.to_owned(),
        error: format!("{e:#}"),
    };
    let text_name = format!("{base}.txt");
    let text_tmpl = env
        .get_template(&text_name)
        .map_err(|e| template_error(&text_name, e))?;
    let mut captured = text_tmpl
        .render_captured(&values)
        .map_err(|e| template_error(&text_name, e))?;
    // The subject is a block of the text template, so each language's wording stays in one file.
    let subject = captured
        .with_state_mut(|state| state.render_block("subject"))
        .map_err(|e| template_error(&text_name, e))?
        .trim()
        .to_owned();
    let text = captured.into_output();
    let html_name = format!("{base}.html");
    let html = env
        .get_template(&html_name)
        .and_then(|t| t.render(context! { subject => &subject, ..values }))
        .map_err(|e| template_error(&html_name, e))?;
    Ok(Rendered {
        subject,
        text: normalise_text(&text),
        html,
        invite,
    })
}

/// Collapses the blank lines that template tags leave behind, so the text part reads like a
/// hand-written mail.
fn normalise_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() && blank > 0 {
            out.push('\n');
        }
        blank = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Builds the MIME message: multipart/alternative text + HTML, inside multipart/mixed with the
/// invite when there is one.
pub fn message(
    from: &Mailbox,
    to: &str,
    r: Rendered,
    message_id: String,
) -> Result<Message, SendError> {
    let to: Mailbox = to
        .parse()
        .map_err(|e: lettre::address::AddressError| SendError::Build(e.to_string()))?;
    let alternative = MultiPart::alternative()
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(r.text),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(r.html),
        );
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(r.subject)
        .message_id(Some(message_id));
    let built =
        match r.invite {
            None => builder.multipart(alternative),
            Some(invite) => {
                let content_type = ContentType::parse(&format!(
                    "text/calendar; charset=utf-8; method={}",
                    invite.method.code()
                ))
                .map_err(|e| SendError::Build(e.to_string()))?;
                builder.multipart(MultiPart::mixed().multipart(alternative).singlepart(
                    Attachment::new("invite.ics".into()).body(invite.ics, content_type),
                ))
            }
        };
    built.map_err(|e| SendError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use icalendar::{Calendar, CalendarDateTime, Component, DatePerhapsTime, EventLike};
    use serde_json::json;

    use super::*;

    const LANGUAGES: [Language; 3] = [Language::Ar, Language::Ru, Language::En];

    fn appointment(kind: Kind) -> Value {
        let mut p = json!({
            "full_name": "Amal Haddad",
            "appointment_id": "0b7e7f4e-3f1a-4c55-9d7e-2a1c1b0c9d11",
            "reference": "MOW-7Q4K-2MZD",
            "sequence": 0,
            "start": "2026-12-01T09:00:00+03:00",
            "end": "2026-12-01T09:30:00+03:00",
            "timezone": "Europe/Moscow",
            "office": {
                "code": "MOW",
                "name": {"ar": "سفارة الجمهورية العربية السورية في موسكو", "ru": "Посольство Сирийской Арабской Республики в Москве", "en": "Embassy of the Syrian Arab Republic in Moscow"},
                "address": {"ar": "موسكو، شارع مانسوروفسكي، 4", "ru": "Москва, Мансуровский переулок, 4", "en": "4 Mansurovsky Lane, Moscow"}
            },
            "service": {
                "code": "passport-renewal",
                "name": {"ar": "تجديد جواز السفر", "ru": "Продление паспорта", "en": "Passport renewal"},
                "required_documents": [
                    {"ar": "جواز السفر الحالي", "ru": "Действующий паспорт", "en": "Current passport"},
                    {"ar": "صورتان شخصيتان", "ru": "Две фотографии", "en": "Two photographs"}
                ],
                "fee_amount": "25.00",
                "fee_currency": "USD"
            },
            "applicant_name": "Amal Haddad"
        });
        match kind {
            Kind::AppointmentRescheduled => {
                p["sequence"] = json!(1);
                p["previous_start"] = json!("2026-11-30T11:00:00+03:00");
            }
            Kind::ConfirmationRequest => {
                p["confirm_until"] = json!("2026-11-30T09:00:00+03:00");
            }
            Kind::AppointmentCancelled => {
                p["sequence"] = json!(2);
                p["cancelled_by"] = json!("staff");
                p["reason"] = json!("The office is closed for a national holiday");
            }
            _ => {}
        }
        p
    }

    fn payload(kind: Kind) -> Value {
        match kind {
            Kind::AccountExists => json!({ "full_name": "Amal Haddad" }),
            Kind::VerifyEmail | Kind::PasswordReset => json!({
                "full_name": "Amal Haddad",
                "token": "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"
            }),
            Kind::DocumentStatusChanged => json!({
                "full_name": "Amal Haddad",
                "tracking_number": "SY-MOW-2026-000123",
                "status": "ready_for_pickup",
                "previous_status": "approved",
                "public_note": "Bring the receipt <and> your old passport",
                "changed_at": "2026-12-03T14:05:00+03:00",
                "service": {"code": "passport-renewal", "name": {"ar": "تجديد جواز السفر", "ru": "Продление паспорта", "en": "Passport renewal"}},
                "office": {"code": "MOW", "name": {"ar": "سفارة موسكو", "ru": "Посольство в Москве", "en": "Embassy in Moscow"}}
            }),
            _ => appointment(kind),
        }
    }

    fn organizer() -> Mailbox {
        "Mawid <no-reply@mawid.test>".parse().unwrap()
    }

    fn render_as(kind: Kind, language: Language) -> Rendered {
        let from = organizer();
        let ctx = Context {
            now: Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
            organizer: &from,
            recipient: "amal@example.test",
        };
        render(kind.code(), language, &payload(kind), &ctx)
            .unwrap_or_else(|e| panic!("{kind:?} in {language:?}: {e}"))
    }

    fn has_arabic(s: &str) -> bool {
        s.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
    }

    fn has_cyrillic(s: &str) -> bool {
        s.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c))
    }

    #[test]
    fn every_kind_renders_in_every_language_with_text_html_and_subject() {
        for kind in Kind::ALL {
            for language in LANGUAGES {
                let r = render_as(kind, language);
                assert!(!r.subject.is_empty(), "{kind:?} {language:?}");
                assert!(!r.subject.contains('\n'), "{kind:?} {language:?}");
                assert!(r.text.contains("Amal Haddad"), "{kind:?} {language:?}");
                assert!(r.html.contains("Amal Haddad"), "{kind:?} {language:?}");
                assert!(
                    r.html.contains(&format!("lang=\"{}\"", language.code())),
                    "{kind:?} {language:?}"
                );
            }
        }
    }

    #[test]
    fn arabic_mail_is_in_arabic_script_and_its_html_is_right_to_left() {
        for kind in Kind::ALL {
            let r = render_as(kind, Language::Ar);
            assert!(r.html.contains(r#"dir="rtl" lang="ar""#), "{kind:?}");
            assert!(has_arabic(&r.subject), "{kind:?}: {}", r.subject);
            assert!(has_arabic(&r.text), "{kind:?}");
        }
    }

    #[test]
    fn russian_mail_is_in_cyrillic_and_english_mail_is_not() {
        for kind in Kind::ALL {
            let ru = render_as(kind, Language::Ru);
            assert!(has_cyrillic(&ru.subject), "{kind:?}: {}", ru.subject);
            assert!(ru.html.contains(r#"dir="ltr" lang="ru""#), "{kind:?}");
            let en = render_as(kind, Language::En);
            assert!(!has_cyrillic(&en.text) && !has_arabic(&en.text), "{kind:?}");
        }
    }

    #[test]
    fn appointment_times_are_written_in_the_office_zone_in_each_language() {
        let en = render_as(Kind::AppointmentBooked, Language::En);
        assert!(en
            .text
            .contains("Tuesday, 1 December 2026, 09:00 (Europe/Moscow, UTC+03:00)"));
        let ru = render_as(Kind::AppointmentBooked, Language::Ru);
        assert!(
            ru.text.contains("вторник, 1 декабря 2026 г., 09:00"),
            "{}",
            ru.text
        );
        let ar = render_as(Kind::AppointmentBooked, Language::Ar);
        assert!(
            ar.text.contains("الثلاثاء، 1 كانون الأول 2026"),
            "{}",
            ar.text
        );
    }

    #[test]
    fn booking_confirmation_lists_required_documents_and_fee_in_the_mail_language() {
        let en = render_as(Kind::AppointmentBooked, Language::En);
        for s in [&en.text, &en.html] {
            assert!(s.contains("Current passport") && s.contains("Two photographs"));
            assert!(s.contains("25.00 USD"));
            assert!(s.contains("MOW-7Q4K-2MZD"));
        }
        let ar = render_as(Kind::AppointmentBooked, Language::Ar);
        assert!(ar.html.contains("جواز السفر الحالي"));
        assert!(!ar.html.contains("Current passport"));
    }

    #[test]
    fn staff_cancellation_gives_the_reason_and_citizen_cancellation_does_not() {
        let staff = render_as(Kind::AppointmentCancelled, Language::En);
        assert!(staff
            .text
            .contains("The office is closed for a national holiday"));
        let from = organizer();
        let ctx = Context {
            now: Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
            organizer: &from,
            recipient: "amal@example.test",
        };
        let mut p = appointment(Kind::AppointmentCancelled);
        p["cancelled_by"] = json!("citizen");
        p["reason"] = Value::Null;
        let citizen = render("appointment_cancelled", Language::En, &p, &ctx).unwrap();
        assert!(citizen.text.contains("as you asked"));
        assert!(!citizen.text.contains("Reason"));
    }

    #[test]
    fn payload_text_is_escaped_in_html_but_not_in_text() {
        let r = render_as(Kind::DocumentStatusChanged, Language::En);
        assert!(r
            .html
            .contains("Bring the receipt &lt;and&gt; your old passport"));
        assert!(r.text.contains("Bring the receipt <and> your old passport"));
        assert!(r.text.contains("ready for pickup"));
    }

    #[test]
    fn verification_mail_carries_the_raw_token_in_its_text() {
        let r = render_as(Kind::VerifyEmail, Language::Ar);
        assert!(r
            .text
            .lines()
            .any(|l| l.trim() == "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"));
    }

    #[test]
    fn unknown_kind_and_broken_payload_are_errors_not_panics() {
        let from = organizer();
        let ctx = Context {
            now: Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
            organizer: &from,
            recipient: "amal@example.test",
        };
        let e = render("newsletter", Language::En, &json!({}), &ctx).unwrap_err();
        assert!(matches!(e, RenderError::UnknownKind(_)));
        assert_eq!(e.to_string(), "unknown notification kind 'newsletter'");
        let e = render(
            "appointment_booked",
            Language::En,
            &json!({"full_name": "A"}),
            &ctx,
        )
        .unwrap_err();
        assert!(matches!(e, RenderError::Payload { .. }), "{e}");
    }

    fn parse_invite(r: &Rendered) -> (String, Calendar) {
        let ics = r.invite.as_ref().expect("an invite").ics.clone();
        let cal: Calendar = ics.parse().expect("a parseable invite");
        (ics, cal)
    }

    fn utc(t: Option<DatePerhapsTime>) -> DateTime<Utc> {
        match t {
            Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(t))) => t,
            other => panic!("not a UTC time: {other:?}"),
        }
    }

    #[test]
    fn booking_invite_is_a_request_in_utc_with_a_stable_uid_and_the_office_address() {
        let r = render_as(Kind::AppointmentBooked, Language::Ru);
        let (ics, cal) = parse_invite(&r);
        assert_eq!(r.invite.as_ref().unwrap().method, invite::Method::Request);
        assert_eq!(cal.property_value("METHOD"), Some("REQUEST"));
        let event = cal.events().next().expect("one event");
        assert_eq!(
            event.get_uid(),
            Some("0b7e7f4e-3f1a-4c55-9d7e-2a1c1b0c9d11@mawid")
        );
        assert_eq!(event.get_sequence(), Some(0));
        // 09:00 Moscow is 06:00 UTC.
        assert_eq!(
            utc(event.get_start()),
            Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap()
        );
        assert_eq!(
            utc(event.get_end()),
            Utc.with_ymd_and_hms(2026, 12, 1, 6, 30, 0).unwrap()
        );
        assert!(ics.contains("DTSTART:20261201T060000Z\r\n"), "{ics}");
        assert_eq!(
            event.get_location(),
            Some("Москва, Мансуровский переулок, 4")
        );
        assert_eq!(event.get_summary(), Some("Продление паспорта"));
        // RFC 5545 §3.1: content lines are folded at 75 octets.
        assert!(ics.split("\r\n").all(|l| l.len() <= 75), "{ics}");
    }

    #[test]
    fn reschedule_invite_raises_the_sequence_and_cancellation_cancels_the_same_uid() {
        let booked = parse_invite(&render_as(Kind::AppointmentBooked, Language::En)).1;
        let moved = parse_invite(&render_as(Kind::AppointmentRescheduled, Language::En)).1;
        let (ics, cancelled) = parse_invite(&render_as(Kind::AppointmentCancelled, Language::En));
        let uid = |c: &Calendar| c.events().next().unwrap().get_uid().unwrap().to_owned();
        assert_eq!(uid(&booked), uid(&moved));
        assert_eq!(uid(&booked), uid(&cancelled));
        assert_eq!(moved.events().next().unwrap().get_sequence(), Some(1));
        assert_eq!(cancelled.property_value("METHOD"), Some("CANCEL"));
        assert!(ics.contains("STATUS:CANCELLED"), "{ics}");
        assert_eq!(cancelled.events().next().unwrap().get_sequence(), Some(2));
    }

    #[test]
    fn a_confirmation_request_names_the_deadline_and_how_to_confirm_in_each_language() {
        let en = render_as(Kind::ConfirmationRequest, Language::En);
        assert!(en.invite.is_none());
        assert!(
            en.text.contains("Monday, 30 November 2026, 09:00"),
            "{}",
            en.text
        );
        assert!(en.text.contains("Confirm attendance"), "{}", en.text);
        assert!(en.html.contains("Confirm attendance"), "{}", en.html);
        assert!(en.text.contains("MOW-7Q4K-2MZD"));
        let ru = render_as(Kind::ConfirmationRequest, Language::Ru);
        assert!(ru.text.contains("30 ноября 2026"), "{}", ru.text);
        assert!(ru.text.contains("Подтвердить явку"), "{}", ru.text);
        let ar = render_as(Kind::ConfirmationRequest, Language::Ar);
        assert!(ar.text.contains("تأكيد الحضور"), "{}", ar.text);
    }

    #[test]
    fn reminders_and_document_mail_carry_no_invite() {
        assert!(render_as(Kind::AppointmentReminder, Language::En)
            .invite
            .is_none());
        assert!(render_as(Kind::DocumentStatusChanged, Language::En)
            .invite
            .is_none());
    }

    #[test]
    fn message_with_invite_is_mixed_with_an_alternative_and_a_calendar_part() {
        let r = render_as(Kind::AppointmentBooked, Language::Ar);
        let m = message(&organizer(), "amal@example.test", r, "<x@mawid>".into()).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.contains("multipart/mixed"));
        assert!(raw.contains("multipart/alternative"));
        assert!(
            raw.contains("text/calendar; charset=utf-8; method=REQUEST"),
            "{raw}"
        );
    }
}
