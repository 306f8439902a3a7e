//! A booking (and availability) load from several client threads, every request recorded.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{request, Answer, Outcome, World};

#[derive(Clone, Copy)]
pub enum Mix {
    BookOnly,
    /// Bookings and availability reads in turn.
    BookAndRead,
}

#[derive(Debug)]
pub struct Record {
    pub method: &'static str,
    pub path: String,
    pub started: Instant,
    pub elapsed: Duration,
    pub outcome: Outcome,
    /// For a booking: its Idempotency-Key, citizen token and body.
    pub booking: Option<(String, String, Value)>,
}

impl Record {
    pub fn success(&self) -> bool {
        matches!(&self.outcome, Outcome::Answer(a) if a.status < 300)
    }
}

pub struct Load {
    pub records: Vec<Record>,
}

const TIMEOUT: Duration = Duration::from_secs(20);

impl Load {
    /// `clients` threads send requests to `addr()` until `driver` (the fault) returns.
    pub fn run<A, D>(world: &World, addr: A, clients: usize, mix: Mix, driver: D) -> Self
    where
        A: Fn() -> SocketAddr + Sync,
        D: FnOnce(()),
    {
        let stop = AtomicBool::new(false);
        let records = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for c in 0..clients {
                let (stop, records, addr) = (&stop, &records, &addr);
                s.spawn(move || {
                    let mut n = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let i = n * clients + c;
                        let book = matches!(mix, Mix::BookOnly) || n.is_multiple_of(2);
                        let r = if book {
                            let (token, body) = world.booking(i);
                            let key = format!("fault-{}-{c}-{n}", std::process::id());
                            book_once(addr(), &key, &token, &body)
                        } else {
                            let path = world.availability_path(i);
                            let started = Instant::now();
                            let outcome = request(addr(), "GET", &path, &[], None, TIMEOUT);
                            Record {
                                method: "GET",
                                path,
                                started,
                                elapsed: started.elapsed(),
                                outcome,
                                booking: None,
                            }
                        };
                        if !r.success() {
                            // A dead server refuses at once; do not spin on it.
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        records.lock().unwrap().push(r);
                        n += 1;
                    }
                });
            }
            driver(());
            stop.store(true, Ordering::Relaxed);
        });
        Self {
            records: records.into_inner().unwrap(),
        }
    }

    pub fn outcomes(&self) -> impl Iterator<Item = &Outcome> {
        self.records.iter().map(|r| &r.outcome)
    }

    pub fn count(&self, f: impl Fn(&Answer) -> bool) -> usize {
        self.outcomes()
            .filter(|o| matches!(o, Outcome::Answer(a) if f(a)))
            .count()
    }

    pub fn longest(&self) -> Duration {
        self.records
            .iter()
            .map(|r| r.elapsed)
            .max()
            .unwrap_or_default()
    }

    /// The ids of every booking answered 201, once the bookings that got no answer or a 5xx
    /// were sent again with their Idempotency-Key (which answers the first outcome if there
    /// was one).
    pub fn settle(&self, addr: SocketAddr) -> Vec<String> {
        let mut created = Vec::new();
        for r in &self.records {
            let Some((key, token, body)) = &r.booking else {
                continue;
            };
            let outcome = match &r.outcome {
                Outcome::Answer(a) if a.status < 500 => a.clone(),
                _ => {
                    let mut tries = 0;
                    loop {
                        match book_once(addr, key, token, body).outcome {
                            Outcome::Answer(a) if a.status < 500 => break a,
                            other => {
                                tries += 1;
                                assert!(tries < 20, "the retry of {key} keeps failing: {other:?}");
                                std::thread::sleep(Duration::from_millis(250));
                            }
                        }
                    }
                }
            };
            if outcome.status == 201 {
                created.push(outcome.body["id"].as_str().unwrap().to_owned());
            }
        }
        created
    }
}

fn book_once(addr: SocketAddr, key: &str, token: &str, body: &Value) -> Record {
    let bearer = format!("Bearer {token}");
    let started = Instant::now();
    let outcome = request(
        addr,
        "POST",
        "/api/v1/appointments",
        &[("Authorization", &bearer), ("Idempotency-Key", key)],
        Some(body),
        TIMEOUT,
    );
    Record {
        method: "POST",
        path: "/api/v1/appointments".into(),
        started,
        elapsed: started.elapsed(),
        outcome,
        booking: Some((key.to_owned(), token.to_owned(), body.clone())),
    }
}
