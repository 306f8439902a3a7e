//! The access-control matrix: every route of openapi.yaml × every persona, each cell the status
//! class the route must answer. A route added to the contract without a row fails the test.
//! A persona is a column: a variant of [`Persona`], a way to make its token in
//! [`Personas::token`] and an arm in [`expected`]. A suspended citizen and a deactivated officer
//! hold tokens minted before the admin acted: refused from their next request on.

use std::collections::BTreeSet;

use actix_web::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{documented_routes, openapi, World};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anyone,
    /// Any signed-in account.
    Bearer,
    Citizen,
    Staff,
    Admin,
}

/// Whether the path names something citizen A owns: citizen B is answered 404 there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owned {
    ByA,
    No,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persona {
    Anonymous,
    CitizenA,
    CitizenB,
    Officer,
    Admin,
    SuspendedCitizen,
    DeactivatedOfficer,
}

impl Persona {
    const ALL: [Persona; 7] = [
        Self::Anonymous,
        Self::SuspendedCitizen,
        Self::DeactivatedOfficer,
        Self::CitizenB,
        Self::Officer,
        Self::Admin,
        Self::CitizenA,
    ];
}

/// What a cell asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Past authentication and authorisation: neither 401, 403 nor 404 (for owned ones), and
    /// never a 5xx.
    Through,
    Status(StatusCode),
}

fn expected(who: Who, owned: Owned, persona: Persona) -> Expect {
    use Expect::*;
    use Persona::*;
    let unauthenticated = Status(StatusCode::UNAUTHORIZED);
    let forbidden = Status(StatusCode::FORBIDDEN);
    match (who, persona) {
        (Who::Anyone, _) => Through,
        (_, Anonymous | DeactivatedOfficer) => unauthenticated,
        (_, SuspendedCitizen) => forbidden,
        (Who::Bearer, _) => Through,
        (Who::Citizen, Officer | Admin) => forbidden,
        (Who::Citizen, CitizenB) if owned == Owned::ByA => Status(StatusCode::NOT_FOUND),
        (Who::Citizen, CitizenA | CitizenB) => Through,
        (Who::Staff, CitizenA | CitizenB) => forbidden,
        (Who::Staff, Officer | Admin) => Through,
        (Who::Admin, Admin) => Through,
        (Who::Admin, _) => forbidden,
    }
}

/// One row per documented route.
const ROWS: &[(&str, &str, Who, Owned)] = &[
    ("POST", "/api/v1/auth/register", Who::Anyone, Owned::No),
    ("POST", "/api/v1/auth/verify-email", Who::Anyone, Owned::No),
    (
        "POST",
        "/api/v1/auth/verify-email/resend",
        Who::Anyone,
        Owned::No,
    ),
    ("POST", "/api/v1/auth/login", Who::Anyone, Owned::No),
    ("POST", "/api/v1/auth/refresh", Who::Anyone, Owned::No),
    ("POST", "/api/v1/auth/logout", Who::Bearer, Owned::No),
    (
        "POST",
        "/api/v1/auth/password-reset",
        Who::Anyone,
        Owned::No,
    ),
    (
        "POST",
        "/api/v1/auth/password-reset/confirm",
        Who::Anyone,
        Owned::No,
    ),
    ("GET", "/api/v1/me", Who::Bearer, Owned::No),
    ("PATCH", "/api/v1/me", Who::Bearer, Owned::No),
    // Personal data: DELETE goes without a body here, so it is refused before erasing anyone.
    ("DELETE", "/api/v1/me", Who::Citizen, Owned::No),
    ("GET", "/api/v1/me/access-log", Who::Citizen, Owned::No),
    ("GET", "/api/v1/me/export", Who::Citizen, Owned::No),
    ("POST", "/api/v1/admin/staff", Who::Admin, Owned::No),
    ("GET", "/api/v1/admin/staff", Who::Admin, Owned::No),
    ("POST", "/api/v1/document-requests", Who::Citizen, Owned::No),
    ("GET", "/api/v1/document-requests", Who::Citizen, Owned::No),
    (
        "GET",
        "/api/v1/document-requests/{id}",
        Who::Citizen,
        Owned::ByA,
    ),
    (
        "POST",
        "/api/v1/document-requests/{id}/cancel",
        Who::Citizen,
        Owned::ByA,
    ),
    (
        "GET",
        "/api/v1/admin/document-requests",
        Who::Staff,
        Owned::No,
    ),
    (
        "GET",
        "/api/v1/admin/document-requests/{id}",
        Who::Staff,
        Owned::No,
    ),
    (
        "POST",
        "/api/v1/admin/document-requests/{id}/transition",
        Who::Staff,
        Owned::No,
    ),
    (
        "GET",
        "/api/v1/track/{tracking_number}",
        Who::Anyone,
        Owned::No,
    ),
    ("GET", "/api/v1/offices", Who::Anyone, Owned::No),
    ("GET", "/api/v1/offices/{id}", Who::Anyone, Owned::No),
    (
        "GET",
        "/api/v1/offices/{id}/availability",
        Who::Anyone,
        Owned::No,
    ),
    ("GET", "/api/v1/services", Who::Anyone, Owned::No),
    ("GET", "/api/v1/services/{id}", Who::Anyone, Owned::No),
    ("POST", "/api/v1/admin/offices", Who::Admin, Owned::No),
    ("PATCH", "/api/v1/admin/offices/{id}", Who::Admin, Owned::No),
    ("POST", "/api/v1/admin/services", Who::Admin, Owned::No),
    (
        "PATCH",
        "/api/v1/admin/services/{id}",
        Who::Admin,
        Owned::No,
    ),
    (
        "PUT",
        "/api/v1/admin/offices/{id}/schedules/{service_id}",
        Who::Admin,
        Owned::No,
    ),
    (
        "GET",
        "/api/v1/admin/offices/{id}/schedules/{service_id}",
        Who::Admin,
        Owned::No,
    ),
    (
        "POST",
        "/api/v1/admin/offices/{id}/closures",
        Who::Admin,
        Owned::No,
    ),
    (
        "GET",
        "/api/v1/admin/offices/{id}/closures",
        Who::Admin,
        Owned::No,
    ),
    (
        "DELETE",
        "/api/v1/admin/offices/{id}/closures/{date}",
        Who::Admin,
        Owned::No,
    ),
    ("POST", "/api/v1/appointments", Who::Citizen, Owned::No),
    ("GET", "/api/v1/appointments", Who::Citizen, Owned::No),
    ("GET", "/api/v1/appointments/{id}", Who::Citizen, Owned::ByA),
    (
        "POST",
        "/api/v1/appointments/{id}/cancel",
        Who::Citizen,
        Owned::ByA,
    ),
    (
        "POST",
        "/api/v1/appointments/{id}/reschedule",
        Who::Citizen,
        Owned::ByA,
    ),
    (
        "GET",
        "/api/v1/admin/offices/{id}/agenda",
        Who::Staff,
        Owned::No,
    ),
    (
        "POST",
        "/api/v1/admin/appointments/{id}/check-in",
        Who::Staff,
        Owned::No,
    ),
    (
        "POST",
        "/api/v1/admin/appointments/{id}/complete",
        Who::Staff,
        Owned::No,
    ),
    (
        "POST",
        "/api/v1/admin/appointments/{id}/no-show",
        Who::Staff,
        Owned::No,
    ),
    (
        "POST",
        "/api/v1/admin/appointments/{id}/cancel",
        Who::Staff,
        Owned::No,
    ),
    ("GET", "/api/v1/admin/audit-log", Who::Admin, Owned::No),
    ("GET", "/api/v1/admin/notifications", Who::Admin, Owned::No),
    (
        "POST",
        "/api/v1/admin/notifications/{id}/retry",
        Who::Admin,
        Owned::No,
    ),
    ("GET", "/healthz", Who::Anyone, Owned::No),
    ("GET", "/readyz", Who::Anyone, Owned::No),
    ("GET", "/openapi.yaml", Who::Anyone, Owned::No),
    ("GET", "/metrics", Who::Anyone, Owned::No),
    ("GET", "/docs", Who::Anyone, Owned::No),
    ("GET", "/docs/{asset}", Who::Anyone, Owned::No),
    // Fair access.
    ("POST", "/api/v1/waitlist", Who::Citizen, Owned::No),
    ("GET", "/api/v1/waitlist", Who::Citizen, Owned::No),
    ("DELETE", "/api/v1/waitlist/{id}", Who::Citizen, Owned::ByA),
    (
        "POST",
        "/api/v1/appointments/{id}/confirm",
        Who::Citizen,
        Owned::ByA,
    ),
    ("POST", "/api/v1/admin/appointments", Who::Staff, Owned::No),
    (
        "GET",
        "/api/v1/admin/appointments/{id}",
        Who::Staff,
        Owned::No,
    ),
    (
        "GET",
        "/api/v1/admin/offices/{id}/availability",
        Who::Staff,
        Owned::No,
    ),
    (
        "POST",
        "/api/v1/admin/citizens/{id}/suspend",
        Who::Admin,
        Owned::No,
    ),
    (
        "POST",
        "/api/v1/admin/citizens/{id}/reinstate",
        Who::Admin,
        Owned::No,
    ),
    // Counter operations.
    ("GET", "/api/v1/admin/search", Who::Staff, Owned::No),
    ("GET", "/api/v1/admin/citizens/{id}", Who::Staff, Owned::No),
    ("GET", "/api/v1/admin/stats", Who::Admin, Owned::No),
    ("PATCH", "/api/v1/admin/staff/{id}", Who::Admin, Owned::No),
    (
        "POST",
        "/api/v1/admin/offices/{id}/notices",
        Who::Admin,
        Owned::No,
    ),
    (
        "DELETE",
        "/api/v1/admin/offices/{id}/notices/{notice_id}",
        Who::Admin,
        Owned::No,
    ),
    // Webhooks.
    ("POST", "/api/v1/admin/webhooks", Who::Admin, Owned::No),
    ("GET", "/api/v1/admin/webhooks", Who::Admin, Owned::No),
    (
        "DELETE",
        "/api/v1/admin/webhooks/{id}",
        Who::Admin,
        Owned::No,
    ),
    (
        "GET",
        "/api/v1/admin/webhooks/{id}/deliveries",
        Who::Admin,
        Owned::No,
    ),
    (
        "POST",
        "/api/v1/admin/webhooks/{id}/deliveries/{delivery_id}/replay",
        Who::Admin,
        Owned::No,
    ),
];

struct Personas {
    a: String,
    b: String,
    officer: String,
    admin: String,
    suspended: String,
    deactivated: String,
}

impl Personas {
    fn token(&self, p: Persona) -> Option<&str> {
        match p {
            Persona::Anonymous => None,
            Persona::CitizenA => Some(&self.a),
            Persona::CitizenB => Some(&self.b),
            Persona::Officer => Some(&self.officer),
            Persona::Admin => Some(&self.admin),
            Persona::SuspendedCitizen => Some(&self.suspended),
            Persona::DeactivatedOfficer => Some(&self.deactivated),
        }
    }
}

#[test]
fn every_documented_route_has_a_row_and_every_row_a_route() {
    let documented = documented_routes(&openapi());
    let rows: BTreeSet<(String, String)> = ROWS
        .iter()
        .map(|(m, p, _, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let missing: Vec<_> = documented.difference(&rows).collect();
    let stale: Vec<_> = rows.difference(&documented).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "routes without a row in the access matrix: {missing:?}; rows without a route: {stale:?}"
    );
    assert_eq!(rows.len(), ROWS.len(), "a route has two rows");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn every_route_answers_every_persona_as_the_matrix_says(pool: PgPool) {
    let w = World::new(pool).await;
    w.service_issues_documents().await;
    let app = &w.app;
    let suspended = app.quick_citizen("suspended@example.org").await;
    let suspended_id = app.user_id(&suspended).await;
    app.post(
        &format!("/api/v1/admin/citizens/{suspended_id}/suspend"),
        Some(&w.admin),
        json!({ "reason": "reselling slots" }),
    )
    .await
    .expect(StatusCode::OK);
    let deactivated = app.staff("gone@mawid.test", "officer").await;
    let deactivated_id = app.user_id(&deactivated).await;
    app.patch(
        &format!("/api/v1/admin/staff/{deactivated_id}"),
        Some(&w.admin),
        json!({ "active": false }),
    )
    .await
    .expect(StatusCode::OK);
    // The citizen an admin suspends and reinstates, and whose file staff open, in the rows below.
    let subject = app.quick_citizen("subject@example.org").await;
    let subject_id = app.user_id(&subject).await.to_string();
    let personas = Personas {
        a: w.citizen.clone(),
        b: app.quick_citizen("b@example.org").await,
        officer: w.officer.clone(),
        admin: w.admin.clone(),
        suspended,
        deactivated,
    };
    let appointment = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    // An "earlier slot" entry of citizen A: before the booking just made.
    let entry = app
        .post(
            "/api/v1/waitlist",
            Some(&w.citizen),
            json!({ "office_id": w.office, "service_id": w.service,
                    "from": w.day(1), "to": w.day(1) }),
        )
        .await
        .expect(StatusCode::CREATED);
    let entry_id = entry["id"].as_str().unwrap().to_owned();
    let request = app
        .post(
            "/api/v1/document-requests",
            Some(&w.citizen),
            json!({
                "office_id": w.office, "service_id": w.service,
                "applicant": { "full_name": "Amal Haddad", "date_of_birth": "1990-05-17" },
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    let request_id = request["id"].as_str().unwrap().to_owned();
    let tracking = request["tracking_number"].as_str().unwrap().to_owned();
    let notification: String = sqlx::query_scalar("SELECT id::text FROM notifications LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    let mut failures = Vec::new();
    for (method, template, who, owned) in ROWS {
        let id = if template.contains("waitlist/{id}") {
            entry_id.clone()
        } else if template.contains("citizens/{id}") {
            subject_id.clone()
        } else if template.contains("appointments/{id}") {
            appointment.clone()
        } else if template.contains("document-requests/{id}") {
            request_id.clone()
        } else if template.contains("services/{id}") {
            w.service.clone()
        } else if template.contains("notifications/{id}") {
            notification.clone()
        } else {
            w.office.clone()
        };
        let mut path = template
            .replace("{id}", &id)
            .replace("{service_id}", &w.service)
            .replace("{tracking_number}", &tracking)
            .replace("{date}", &w.day(3).to_string())
            .replace("{asset}", "none.js")
            .replace("{notice_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{delivery_id}", &uuid::Uuid::new_v4().to_string());
        if template.ends_with("/availability") {
            path.push_str(&format!(
                "?service_id={}&from={}&to={}",
                w.service,
                w.day(1),
                w.day(5)
            ));
        } else if template.ends_with("/search") {
            path.push_str("?q=Haddad");
        } else if template.ends_with("/stats") {
            path.push_str(&format!(
                "?office_id={}&from={}&to={}",
                w.office,
                w.day(1),
                w.day(5)
            ));
        } else if template.ends_with("/agenda") {
            path.push_str(&format!("?date={}", w.day(2)));
        } else if template.starts_with("/api/v1/track/") {
            path.push_str("?date_of_birth=1990-05-17");
        }
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        for persona in Persona::ALL {
            // A body that passes validation where ownership is checked after it.
            let body = if template.ends_with("/reschedule") {
                Some(json!({ "start": w.at(3, "10:00") }))
            } else {
                (method != Method::GET && method != Method::DELETE).then(|| json!({}))
            };
            let r = app
                .send(method.clone(), &path, personas.token(persona), body)
                .await;
            let want = expected(*who, *owned, persona);
            let ok = match want {
                Expect::Status(s) => r.status == s,
                Expect::Through => {
                    let refused =
                        matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
                    let hidden = *owned == Owned::ByA && r.status == StatusCode::NOT_FOUND;
                    !(refused || hidden || r.status.is_server_error())
                }
            };
            if !ok {
                failures.push(format!(
                    "{method} {template} as {persona:?}: expected {want:?}, got {} {}",
                    r.status, r.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
