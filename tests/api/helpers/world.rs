//! The world most tests start from, built through the API the way an admin and a citizen would;
//! only the staff accounts are written directly, as no one can sign up as staff.

use actix_web::http::StatusCode;
use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};
use sqlx::PgPool;

use super::{Resp, TestApp};

/// Time frozen on a Monday at 11:00 Moscow time; an admin, an officer and a citizen who verified
/// their email ([`World::CITIZEN`], English); the MOW office (Europe/Moscow) offering one
/// 30-minute service, passport-renewal, Monday to Friday 09:00–13:00 and 14:00–15:00.
pub struct World {
    pub app: TestApp,
    pub admin: String,
    pub officer: String,
    pub citizen: String,
    pub office: String,
    pub service: String,
    pub monday: NaiveDate,
}

impl World {
    pub const CITIZEN: &'static str = "amal@example.org";

    /// Two desks per slot.
    pub async fn new(pool: PgPool) -> Self {
        Self::with_capacity(pool, 2).await
    }

    pub async fn with_capacity(pool: PgPool, capacity: i64) -> Self {
        let app = TestApp::new(pool).await;
        let monday = app.freeze_on_next_monday();
        let admin = app.admin().await;
        let officer = app.officer().await;
        let citizen = app.verified_citizen(Self::CITIZEN).await;
        let office = app.create_office(&admin, "MOW", "Europe/Moscow").await;
        let service = app.create_service(&admin, "passport-renewal", 30).await;
        app.weekday_schedule(&admin, &office, &service, capacity, Self::hours())
            .await;
        Self {
            app,
            admin,
            officer,
            citizen,
            office,
            service,
            monday,
        }
    }

    /// The world's opening hours, Monday to Friday.
    pub fn hours() -> Value {
        json!([["09:00", "13:00"], ["14:00", "15:00"]])
    }

    /// Puts a Monday–Friday schedule of `service` at MOW; returns the admin answer.
    pub async fn schedule(&self, service: &str, capacity: i64, intervals: Value) -> Value {
        self.app
            .weekday_schedule(&self.admin, &self.office, service, capacity, intervals)
            .await
    }

    /// The date `days` after the frozen Monday.
    pub fn day(&self, days: i64) -> NaiveDate {
        self.monday + Duration::days(days)
    }

    /// A local Moscow time `days` after the frozen Monday, as the API writes it.
    pub fn at(&self, days: i64, hm: &str) -> String {
        format!("{}T{hm}:00+03:00", self.day(days))
    }

    /// Another 30-minute service at MOW, two desks, weekdays 09:00–13:00.
    pub async fn scheduled_service(&self, code: &str) -> String {
        let id = self.app.create_service(&self.admin, code, 30).await;
        self.schedule(&id, 2, json!([["09:00", "13:00"]])).await;
        id
    }

    /// The admin changes the world's service.
    pub async fn patch_service(&self, changes: Value) {
        self.app
            .patch(
                &format!("/api/v1/admin/services/{}", self.service),
                Some(&self.admin),
                changes,
            )
            .await
            .expect(StatusCode::OK);
    }

    /// From now on checking in to the world's service opens a document request.
    pub async fn service_issues_documents(&self) {
        self.patch_service(json!({ "creates_document_request": true }))
            .await;
    }

    /// Staff book `start` for a walk-in without an account described by `applicant`.
    pub async fn book_walk_in(&self, start: &str, applicant: Value) -> Resp {
        self.app
            .post(
                "/api/v1/admin/appointments",
                Some(&self.officer),
                json!({ "office_id": self.office, "service_id": self.service, "start": start,
                        "reason": "at the counter", "applicant": applicant }),
            )
            .await
    }

    pub async fn book(&self, token: &str, start: &str) -> Resp {
        self.book_for(token, &self.service, start, None).await
    }

    pub async fn book_for(
        &self,
        token: &str,
        service: &str,
        start: &str,
        applicant: Option<Value>,
    ) -> Resp {
        let mut body = json!({ "office_id": self.office, "service_id": service, "start": start });
        if let Some(a) = applicant {
            body["applicant"] = a;
        }
        self.app
            .post("/api/v1/appointments", Some(token), body)
            .await
    }

    /// Books the world's service at `start`; returns the appointment id.
    pub async fn booked(&self, token: &str, start: &str) -> String {
        let a = self.book(token, start).await.expect(StatusCode::CREATED);
        a["id"].as_str().unwrap().to_owned()
    }

    /// Each of `starts` booked by a new verified citizen, `{prefix}{i}@example.org`: their
    /// tokens and appointment ids, in order.
    pub async fn booked_by_new_citizens(
        &self,
        prefix: &str,
        starts: &[String],
    ) -> Vec<(String, String)> {
        let mut held = Vec::new();
        for (i, start) in starts.iter().enumerate() {
            let c = self
                .app
                .quick_citizen(&format!("{prefix}{i}@example.org"))
                .await;
            let id = self.booked(&c, start).await;
            held.push((c, id));
        }
        held
    }

    /// Whether the appointment `id` is stored as booked.
    pub async fn is_booked(&self, id: &str) -> bool {
        let sql =
            format!("SELECT count(*) FROM appointments WHERE id = '{id}' AND status = 'booked'");
        self.app.count(&sql).await == 1
    }
}
