//! Webhooks: an admin registers an endpoint; events reach a real HTTP receiver signed as the
//! Standard Webhooks specification says, failures are retried with backoff, every attempt is
//! listed, a delivery can be replayed, and two server processes never send one twice.

use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use chrono::Duration;
use hmac::{Hmac, Mac};
use mawid_notify::{HookSettings, HookWorker};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::PgPool;

use crate::helpers::World;

/// 32 bytes, base64, as Standard Webhooks writes a secret.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";

#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// Checks the signature the way a receiver would, from the secret alone.
    fn signed_with(&self, secret: &str) -> bool {
        let key = base64::engine::general_purpose::STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}.{}", self.id, self.timestamp, self.body).as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        self.signature
            .split(' ')
            .any(|s| s == format!("v1,{expected}"))
    }
}

/// A ministry system: an HTTP server on a free port that keeps what it gets and answers the
/// status it is told to.
#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<u16>>,
    url: String,
}

impl Receiver {
    async fn start() -> Self {
        let got = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(Mutex::new(200u16));
        let (g, a) = (got.clone(), answer.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            let (g, a) = (g.clone(), a.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: String| {
                let (g, a) = (g.clone(), a.clone());
                async move {
                    let h = |n: &str| {
                        req.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    g.lock().unwrap().push(Received {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                        body,
                    });
                    let status = *a.lock().unwrap();
                    HttpResponse::build(StatusCode::from_u16(status).unwrap()).finish()
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            got,
            answer,
            url: format!("http://127.0.0.1:{port}/hooks/mawid"),
        }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn answer_with(&self, status: u16) {
        *self.answer.lock().unwrap() = status;
    }
}

impl World {
    fn hook_worker(&self) -> HookWorker {
        HookWorker::new(
            self.app.pool.clone(),
            Arc::new(self.app.clock.clone()),
            HookSettings::default(),
        )
    }

    async fn register_hook(&self, url: &str, events: &[&str]) -> Value {
        self.app
            .post(
                "/api/v1/admin/webhooks",
                Some(&self.admin),
                json!({ "url": url, "secret": SECRET, "events": events }),
            )
            .await
            .expect(StatusCode::CREATED)
    }

    async fn book_at(&self, days: i64, hm: &str) -> Value {
        self.book_as(&self.citizen, days, hm, "N7654321").await
    }

    async fn book_as(&self, citizen: &str, days: i64, hm: &str, passport: &str) -> Value {
        self.app
            .post(
                "/api/v1/appointments",
                Some(citizen),
                json!({"office_id": self.office, "service_id": self.service, "start": self.at(days, hm),
                       "applicant": {"full_name": "Omar Haddad", "relation": "child", "passport_number": passport}}),
            )
            .await
            .expect(StatusCode::CREATED)
    }

    async fn deliveries_of(&self, hook: &Value) -> Vec<Value> {
        self.app
            .get(
                &format!(
                    "/api/v1/admin/webhooks/{}/deliveries",
                    hook["id"].as_str().unwrap()
                ),
                Some(&self.admin),
            )
            .await
            .expect(StatusCode::OK)["items"]
            .as_array()
            .unwrap()
            .clone()
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn only_an_admin_registers_a_well_formed_endpoint_and_its_secret_is_never_shown(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let body = json!({"url": "https://ministry.example/hooks", "secret": SECRET, "events": ["appointment.booked"]});
    w.app
        .post("/api/v1/admin/webhooks", Some(&w.officer), body.clone())
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    for bad in [
        json!({"url": "ftp://x", "secret": SECRET, "events": ["appointment.booked"]}),
        json!({"url": "https://a.example", "secret": "whsec_c2hvcnQ=", "events": ["appointment.booked"]}),
        json!({"url": "https://a.example", "secret": SECRET, "events": ["appointment.eaten"]}),
        json!({"url": "https://a.example", "secret": SECRET, "events": []}),
    ] {
        w.app
            .post("/api/v1/admin/webhooks", Some(&w.admin), bad)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let created = w
        .app
        .post("/api/v1/admin/webhooks", Some(&w.admin), body)
        .await
        .expect(StatusCode::CREATED);
    let listed = w
        .app
        .get("/api/v1/admin/webhooks", Some(&w.admin))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"][0]["id"], created["id"]);
    assert!(!listed.to_string().contains("whsec_") && !created.to_string().contains("whsec_"));
    let one = format!("/api/v1/admin/webhooks/{}", created["id"].as_str().unwrap());
    w.app
        .delete(&one, Some(&w.admin))
        .await
        .expect(StatusCode::NO_CONTENT);
    w.app
        .delete(&one, Some(&w.admin))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn events_reach_a_real_receiver_signed_retried_listed_and_replayed(pool: PgPool) {
    let w = World::new(pool).await;
    let receiver = Receiver::start().await;
    let hook = w
        .register_hook(
            &receiver.url,
            &["appointment.booked", "appointment.cancelled"],
        )
        .await;
    let worker = w.hook_worker();

    let booked = w.book_at(2, "09:00").await;
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let first = &got[0];
    assert!(first.signed_with(SECRET), "{first:?}");
    assert_eq!(first.timestamp, w.app.clock.now().timestamp().to_string());
    let event = first.json();
    assert_eq!(event["type"], "appointment.booked");
    assert_eq!(event["data"]["appointment_id"], booked["id"]);
    assert_eq!(event["data"]["reference"], booked["reference"]);
    assert_eq!(event["data"]["status"], "booked");
    // Ids, references, statuses and times: no names, no identity numbers.
    for personal in ["Omar", "Haddad", "N7654321", "amal@"] {
        assert!(!first.body.contains(personal), "{}", first.body);
    }

    // The receiver fails: the delivery stays pending with its failed attempt, due again later.
    receiver.answer_with(503);
    w.app
        .post(
            &format!(
                "/api/v1/appointments/{}/cancel",
                booked["id"].as_str().unwrap()
            ),
            Some(&w.citizen),
            json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert_eq!(worker.run_once().await.unwrap(), 0, "not due again yet");
    let of = |listed: &[Value], event: &str| {
        listed.iter().find(|d| d["event"] == event).unwrap().clone()
    };
    let listed = w.deliveries_of(&hook).await;
    let cancelled = of(&listed, "appointment.cancelled");
    assert_eq!(cancelled["status"], "pending");
    assert_eq!(cancelled["attempts"][0]["status_code"], 503);

    receiver.answer_with(200);
    w.app.clock.advance(Duration::seconds(6));
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let listed = w.deliveries_of(&hook).await;
    let cancelled = of(&listed, "appointment.cancelled");
    assert_eq!(cancelled["status"], "delivered");
    assert_eq!(cancelled["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(cancelled["attempts"][1]["status_code"], 200);
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    // The retry is the same message: the same id, signed again for its own timestamp.
    assert_eq!(got[1].id, got[2].id);
    assert!(got[2].signed_with(SECRET));

    // A replay sends the booked event again under its id.
    let booked_delivery = listed
        .iter()
        .find(|d| d["event"] == "appointment.booked")
        .unwrap();
    w.app
        .post(
            &format!(
                "/api/v1/admin/webhooks/{}/deliveries/{}/replay",
                hook["id"].as_str().unwrap(),
                booked_delivery["id"].as_str().unwrap()
            ),
            Some(&w.admin),
            json!({}),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let got = receiver.received();
    assert_eq!(got.len(), 4);
    assert_eq!(got[3].id, first.id);
    assert_eq!(got[3].body, first.body);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn two_instances_delivering_at_once_send_each_event_once(pool: PgPool) {
    let w = World::new(pool).await;
    let receiver = Receiver::start().await;
    w.register_hook(&receiver.url, &["appointment.booked"])
        .await;
    for (i, hm) in ["09:00", "09:30", "10:00", "10:30"].into_iter().enumerate() {
        let citizen = w.app.quick_citizen(&format!("c{i}@example.org")).await;
        w.book_as(&citizen, 2, hm, &format!("N765432{i}")).await;
    }
    let other = w.app.another_instance().await;
    let (a, b) = (w.hook_worker(), {
        let mut b = w.hook_worker();
        b.pool = other.pool.clone();
        b.settings.batch = 1;
        b
    });
    let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra + rb, 4, "{ra} + {rb}");
    let mut ids: Vec<String> = receiver.received().into_iter().map(|r| r.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_document_status_change_is_announced_and_an_unsubscribed_event_is_not(pool: PgPool) {
    let w = World::new(pool).await;
    let receiver = Receiver::start().await;
    let hook = w
        .register_hook(&receiver.url, &["document_request.status_changed"])
        .await;
    let service = w.app.insert_documentary_service("passport-new", 30).await;
    let created = w
        .app
        .post(
            "/api/v1/document-requests",
            Some(&w.citizen),
            json!({"office_id": w.office, "service_id": service,
                   "applicant": {"full_name": "Amal Haddad", "date_of_birth": "1990-04-05", "passport_number": "N0123 4567"}}),
        )
        .await
        .expect(StatusCode::CREATED);
    w.book_at(2, "09:00").await;
    w.app
        .post(
            &format!(
                "/api/v1/admin/document-requests/{}/transition",
                created["id"].as_str().unwrap()
            ),
            Some(&w.officer),
            json!({"to": "under_review", "internal_note": "looks fine"}),
        )
        .await
        .expect(StatusCode::OK);
    let worker = w.hook_worker();
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let got = receiver.received();
    let event = got[0].json();
    assert_eq!(event["type"], "document_request.status_changed");
    assert_eq!(event["data"]["tracking_number"], created["tracking_number"]);
    assert_eq!(event["data"]["from"], "submitted");
    assert_eq!(event["data"]["to"], "under_review");
    assert!(!got[0].body.contains("Amal") && !got[0].body.contains("looks fine"));
    assert_eq!(w.deliveries_of(&hook).await.len(), 1);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_walk_in_booked_by_staff_without_an_email_is_announced_though_nobody_is_mailed(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let receiver = Receiver::start().await;
    let hook = w
        .register_hook(&receiver.url, &["appointment.booked"])
        .await;
    let booked = w
        .book_walk_in(
            &w.at(2, "09:00"),
            json!({ "full_name": "Huda Saleh", "national_number": "01020304050" }),
        )
        .await
        .expect(StatusCode::CREATED);
    let mailed = format!(
        "SELECT count(*) FROM notifications WHERE payload->>'appointment_id' = '{}'",
        booked["id"].as_str().unwrap()
    );
    assert_eq!(w.app.count(&mailed).await, 0);
    let deliveries = w.deliveries_of(&hook).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["event"], "appointment.booked");
    assert_eq!(
        deliveries[0]["payload"]["data"]["appointment_id"],
        booked["id"]
    );
}
