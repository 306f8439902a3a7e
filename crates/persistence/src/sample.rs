//! The sample data set loaded by `mawid seed`: idempotent, safe to run on every start.
//!
//! The Moscow consular section, the eight services of product.md, a Monday–Friday schedule with
//! a lunch break, and Russia's fixed public holidays of the next twelve months as closures. The
//! passport services ask for re-confirmation, every service has the 30-minute cool-down of
//! released desks, and one passport-renewal desk is reserved for staff.

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use chrono_tz::Tz;
use mawid_domain::catalogue::{FairAccess, Localized, Service as ServiceSettings};
use mawid_domain::schedule::{local_date, Schedule};
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{schedules, StoreError};

struct Text(&'static str, &'static str, &'static str);

impl Text {
    fn localized(&self) -> Localized {
        Localized {
            ar: self.0.to_owned(),
            ru: self.1.to_owned(),
            en: self.2.to_owned(),
        }
    }
}

struct Service {
    code: &'static str,
    name: Text,
    minutes: i32,
    fee: &'static str,
    capacity: i32,
    creates_document_request: bool,
    documents: &'static [Text],
}

const PASSPORT: Text = Text(
    "جواز السفر الحالي أو وثيقة إثبات الشخصية",
    "Действующий паспорт или иной документ, удостоверяющий личность",
    "Current passport or another identity document",
);
const PHOTOS: Text = Text(
    "أربع صور شخصية حديثة بخلفية بيضاء",
    "Четыре свежие фотографии на белом фоне",
    "Four recent photographs on a white background",
);
const CIVIL_EXTRACT: Text = Text(
    "إخراج قيد فردي حديث",
    "Свежая выписка из реестра гражданского состояния (ихрадж кайд)",
    "Recent individual civil registry extract (ikhraj qaid)",
);
const RESIDENCE: Text = Text(
    "وثيقة الإقامة في روسيا الاتحادية",
    "Документ о праве пребывания в Российской Федерации",
    "Proof of residence in the Russian Federation",
);

const SERVICES: &[Service] = &[
    Service {
        code: "passport-renewal",
        name: Text("تجديد جواز السفر", "Продление паспорта", "Passport renewal"),
        minutes: 20,
        fee: "300.00",
        capacity: 3,
        creates_document_request: true,
        documents: &[
            Text("جواز السفر القديم", "Прежний паспорт", "The old passport"),
            PHOTOS,
            CIVIL_EXTRACT,
        ],
    },
    Service {
        code: "passport-new",
        name: Text(
            "إصدار جواز سفر جديد",
            "Оформление нового паспорта",
            "New passport",
        ),
        minutes: 30,
        fee: "300.00",
        capacity: 2,
        creates_document_request: true,
        documents: &[
            Text(
                "البطاقة الشخصية",
                "Удостоверение личности (хавия)",
                "National identity card",
            ),
            CIVIL_EXTRACT,
            PHOTOS,
            RESIDENCE,
        ],
    },
    Service {
        code: "civil-registry-birth",
        name: Text("تسجيل ولادة", "Регистрация рождения", "Birth registration"),
        minutes: 30,
        fee: "25.00",
        capacity: 1,
        creates_document_request: true,
        documents: &[
            Text(
                "شهادة الولادة الروسية مصدقة ومترجمة",
                "Российское свидетельство о рождении с апостилем и переводом",
                "Russian birth certificate, apostilled and translated",
            ),
            Text(
                "جوازا سفر الوالدين",
                "Паспорта обоих родителей",
                "Both parents' passports",
            ),
            Text(
                "عقد زواج الوالدين",
                "Свидетельство о браке родителей",
                "Parents' marriage certificate",
            ),
        ],
    },
    Service {
        code: "civil-registry-marriage",
        name: Text("تسجيل زواج", "Регистрация брака", "Marriage registration"),
        minutes: 45,
        fee: "50.00",
        capacity: 1,
        creates_document_request: true,
        documents: &[
            Text(
                "شهادة الزواج الروسية مصدقة ومترجمة",
                "Российское свидетельство о браке с апостилем и переводом",
                "Russian marriage certificate, apostilled and translated",
            ),
            Text(
                "جوازا سفر الزوجين",
                "Паспорта обоих супругов",
                "Both spouses' passports",
            ),
            CIVIL_EXTRACT,
        ],
    },
    Service {
        code: "power-of-attorney",
        name: Text("وكالة", "Доверенность", "Power of attorney"),
        minutes: 30,
        fee: "50.00",
        capacity: 2,
        creates_document_request: false,
        documents: &[
            PASSPORT,
            Text(
                "الاسم الكامل للوكيل ورقمه الوطني",
                "Полное имя и национальный номер доверенного лица",
                "The attorney's full name and national number",
            ),
            Text(
                "مسودة نص الوكالة",
                "Проект текста доверенности",
                "Draft text of the power of attorney",
            ),
        ],
    },
    Service {
        code: "legalisation",
        name: Text(
            "تصديق الوثائق",
            "Легализация документов",
            "Document legalisation",
        ),
        minutes: 15,
        fee: "25.00",
        capacity: 2,
        creates_document_request: false,
        documents: &[
            Text(
                "الوثيقة الأصلية",
                "Оригинал документа",
                "The original document",
            ),
            Text(
                "صورة عن الوثيقة",
                "Копия документа",
                "A copy of the document",
            ),
            PASSPORT,
        ],
    },
    Service {
        code: "military-service-status",
        name: Text(
            "وضع خدمة العلم",
            "Статус воинской обязанности",
            "Military service status",
        ),
        minutes: 30,
        fee: "50.00",
        capacity: 1,
        creates_document_request: true,
        documents: &[
            PASSPORT,
            Text(
                "دفتر خدمة العلم",
                "Военный билет",
                "Military service booklet",
            ),
            CIVIL_EXTRACT,
        ],
    },
    Service {
        code: "travel-document",
        name: Text("وثيقة سفر", "Проездной документ", "Travel document"),
        minutes: 20,
        fee: "100.00",
        capacity: 1,
        creates_document_request: true,
        documents: &[
            Text(
                "أي وثيقة تثبت الجنسية السورية",
                "Любой документ, подтверждающий сирийское гражданство",
                "Any document proving Syrian nationality",
            ),
            PHOTOS,
            Text(
                "محضر شرطة في حال فقدان جواز السفر",
                "Справка из полиции при утрате паспорта",
                "Police report if the passport was lost",
            ),
        ],
    },
];

/// Russia's fixed non-working public holidays (Labour Code art. 112). The yearly transfers of
/// days off are decreed each autumn; admins add those as ad-hoc closures.
const HOLIDAYS: &[(u32, u32, &str)] = &[
    (1, 1, "New Year holidays"),
    (1, 2, "New Year holidays"),
    (1, 3, "New Year holidays"),
    (1, 4, "New Year holidays"),
    (1, 5, "New Year holidays"),
    (1, 6, "New Year holidays"),
    (1, 7, "Orthodox Christmas"),
    (1, 8, "New Year holidays"),
    (2, 23, "Defender of the Fatherland Day"),
    (3, 8, "International Women's Day"),
    (5, 1, "Spring and Labour Day"),
    (5, 9, "Victory Day"),
    (6, 12, "Russia Day"),
    (11, 4, "Unity Day"),
];

/// The fixed holidays from `today` to a year later, both included.
pub fn holidays_from(today: NaiveDate) -> Vec<(NaiveDate, &'static str)> {
    let until = today.checked_add_months(Months::new(12)).unwrap_or(today);
    let mut out: Vec<(NaiveDate, &'static str)> = [today.year(), today.year() + 1]
        .iter()
        .flat_map(|y| {
            HOLIDAYS.iter().filter_map(move |(m, d, why)| {
                NaiveDate::from_ymd_opt(*y, *m, *d).map(|day| (day, *why))
            })
        })
        .filter(|(day, _)| *day >= today && *day <= until)
        .collect();
    out.sort();
    out
}

/// The sample office's zone.
const TIMEZONE: Tz = chrono_tz::Europe::Moscow;

/// Monday to Friday, 09:00–15:00 with a lunch hour, for every sample service.
fn weekly() -> BTreeMap<String, Vec<[String; 2]>> {
    let day = || {
        vec![
            ["09:00".into(), "13:00".into()],
            ["14:00".into(), "15:00".into()],
        ]
    };
    ["mon", "tue", "wed", "thu", "fri"]
        .into_iter()
        .map(|d| (d.to_owned(), day()))
        .collect()
}

pub async fn load(pool: &PgPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    // The seed command has no application clock: "now" is the database's.
    let now = sqlx::query_scalar!(r#"SELECT now() AS "now!""#)
        .fetch_one(&mut *tx)
        .await?;
    let office_id = sqlx::query_scalar!(
        "INSERT INTO offices (id, code, name_ar, name_ru, name_en, address_ar, address_ru, address_en, timezone)
         VALUES ($1, 'MOW', $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (code) DO UPDATE SET name_ar = $2, name_ru = $3, name_en = $4, address_ar = $5,
            address_ru = $6, address_en = $7, updated_at = now()
         RETURNING id",
        Uuid::new_v4(),
        "القسم القنصلي في سفارة الجمهورية العربية السورية في موسكو",
        "Консульский отдел Посольства Сирийской Арабской Республики в Москве",
        "Consular Section of the Embassy of the Syrian Arab Republic in Moscow",
        "حارة مانسوروفسكي 4، موسكو 119034، روسيا الاتحادية",
        "Мансуровский переулок, 4, Москва, 119034",
        "4 Mansurovsky Lane, Moscow 119034, Russian Federation",
        TIMEZONE.name(),
    )
    .fetch_one(&mut *tx)
    .await?;

    let weekly = weekly();
    for s in SERVICES {
        let fair = fair_access(s.code);
        let docs: Vec<Localized> = s.documents.iter().map(Text::localized).collect();
        // The notice and advance of a new service are the domain's defaults; a rerun keeps
        // whatever an admin set since.
        let service_id = sqlx::query_scalar!(
            "INSERT INTO services (id, code, name_ar, name_ru, name_en, duration_minutes, required_documents,
                fee_amount, fee_currency, creates_document_request, min_notice_hours, max_advance_days,
                confirmation_required, release_cooldown_minutes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::numeric, 'USD', $9, $10, $11, $12, $13)
             ON CONFLICT (code) DO UPDATE SET name_ar = $3, name_ru = $4, name_en = $5, duration_minutes = $6,
                required_documents = $7, fee_amount = $8::text::numeric, creates_document_request = $9,
                updated_at = now()
             RETURNING id",
            Uuid::new_v4(),
            s.code,
            s.name.0,
            s.name.1,
            s.name.2,
            s.minutes,
            Json(&docs) as _,
            s.fee,
            s.creates_document_request,
            ServiceSettings::DEFAULT_MIN_NOTICE_HOURS,
            ServiceSettings::DEFAULT_MAX_ADVANCE_DAYS,
            fair.confirmation_required,
            fair.release_cooldown_minutes,
        )
        .fetch_one(&mut *tx)
        .await?;
        let schedule = Schedule::parse_reserving(s.capacity, reserved_desks(s.code), &weekly)
            .map_err(|e| StoreError::Db(sqlx::Error::Encode(e.into())))?;
        schedules::upsert(&mut *tx, office_id, service_id, &schedule, now).await?;
    }

    for (day, reason) in holidays_from(local_date(TIMEZONE, now)) {
        sqlx::query!(
            "INSERT INTO closures (office_id, day, reason) VALUES ($1, $2, $3)
             ON CONFLICT (office_id, day) DO NOTHING",
            office_id,
            day,
            reason,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The passport services, the ones resellers trade, ask for re-confirmation; every service
/// keeps the default 30-minute cool-down of released desks.
fn fair_access(code: &str) -> FairAccess {
    FairAccess {
        confirmation_required: code.starts_with("passport-"),
        ..FairAccess::default()
    }
}

/// Moscow keeps one desk of passport renewal for urgent cases and walk-ins.
fn reserved_desks(code: &str) -> i32 {
    i32::from(code == "passport-renewal")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passport_services_need_confirmation_and_moscow_reserves_one_renewal_desk() {
        let passports: Vec<_> = SERVICES
            .iter()
            .filter(|s| fair_access(s.code).confirmation_required)
            .map(|s| s.code)
            .collect();
        assert_eq!(passports, ["passport-renewal", "passport-new"]);
        assert!(SERVICES
            .iter()
            .all(|s| fair_access(s.code).release_cooldown_minutes == 30));
        let reserved: i32 = SERVICES.iter().map(|s| reserved_desks(s.code)).sum();
        assert_eq!(reserved, 1);
        for s in SERVICES {
            assert!(
                Schedule::parse_reserving(s.capacity, reserved_desks(s.code), &weekly()).is_ok()
            );
        }
    }

    #[test]
    fn every_sample_service_has_a_valid_schedule_and_texts() {
        for s in SERVICES {
            assert!(Schedule::parse(s.capacity, &weekly()).is_ok(), "{}", s.code);
            assert!(Localized::parse("name", &s.name.localized()).is_ok());
            for d in s.documents {
                assert!(Localized::parse("document", &d.localized()).is_ok());
            }
        }
    }

    #[test]
    fn the_next_twelve_months_of_fixed_holidays_from_23_november_2026() {
        let days: Vec<String> = holidays_from(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap())
            .iter()
            .map(|(d, _)| d.to_string())
            .collect();
        assert_eq!(
            days,
            [
                "2027-01-01",
                "2027-01-02",
                "2027-01-03",
                "2027-01-04",
                "2027-01-05",
                "2027-01-06",
                "2027-01-07",
                "2027-01-08",
                "2027-02-23",
                "2027-03-08",
                "2027-05-01",
                "2027-05-09",
                "2027-06-12",
                "2027-11-04",
            ]
        );
    }
}
