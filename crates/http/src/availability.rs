//! The public availability kept in memory, shared by every request of this process, so a
//! release storm is answered from memory instead of the database.
//!
//! Two layers, true for different reasons:
//! - The **context** (office, service, schedule, closures) changes only when an admin edits it.
//!   The triggers of the `availability_changes` migration notify every process at commit, and
//!   the process drops what it kept; while its listener is not connected (start, a database
//!   restart) nothing is kept or served, since a change could go unheard.
//! - The **answer** (the encoded body and its tag) changes with every booking, so it is kept at
//!   most `max_age` (≤ 1 s) after the read it came from began, and only while listening: a booking, cancellation or
//!   release on another process shows within that bound. Bookings do not notify: NOTIFY takes a
//!   database-wide lock from pre-commit to the end of the commit, which would serialise every
//!   booking's commit (and its WAL flush) behind the one before.
//!
//! A write answered by this process drops what it may have changed before the client hears back,
//! so a client that booked and then asks the same process sees its booking: a booking, a move or
//! a cancellation the answers of its office and service ([`PlacesChanged`]), any other write
//! every answer, and the catalogue's writes the contexts too. A read that began
//! before a drop never stores its answer after it (the generation). Misses of one key are
//! computed once while the others wait (single flight); a miss after a drop that the read in
//! progress began before waits for one read queued behind it, so a key is read at most once at a
//! time however often bookings drop it. The kept bytes are capped.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::http::header::EntityTag;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use chrono::{DateTime, NaiveDate, Utc};
use mawid_persistence::schedules::{AvailabilityContext, CHANNEL};
use mawid_persistence::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::ApiError;

/// How the cache is set (`MAWID_AVAILABILITY_CACHE_MS`, `MAWID_AVAILABILITY_CACHE_MIB`).
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// How long an answer is served after its read began; zero turns the cache off.
    pub max_age: Duration,
    /// How long a context is kept while listening: a safety net only, every change notifies.
    pub context_max_age: Duration,
    /// The most bytes of answers kept.
    pub max_bytes: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_age: Duration::from_millis(500),
            context_max_age: Duration::from_secs(60),
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

/// One availability question: the answer depends on nothing else but the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub office: Uuid,
    pub service: Uuid,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// An encoded answer as served.
#[derive(Debug)]
pub struct Answer {
    pub body: Bytes,
    pub tag: EntityTag,
    /// When the read it came from began.
    read_at: Instant,
    /// The clock's time it was computed for (notice and cool-downs follow it).
    now: DateTime<Utc>,
}

type Shared = Result<Arc<Answer>, ApiError>;

/// A computation that later misses of the same key may wait for.
struct Flight {
    id: u64,
    now: DateTime<Utc>,
    done: watch::Receiver<Option<Shared>>,
}

/// The computations of one key: the one reading now, and the one queued behind it.
#[derive(Default)]
struct Flights {
    /// Reading since the generation it carries.
    running: Option<(u64, Flight)>,
    /// Waiting for `running` to end before its read begins: a read that has not begun yet is
    /// as new as any miss's own would be, whatever was dropped meanwhile, so every miss that
    /// comes while `running` is too old waits for this one. One key is then read at most once at
    /// a time, however often bookings drop it.
    next: Option<Flight>,
}

impl Flights {
    fn is_empty(&self) -> bool {
        self.running.is_none() && self.next.is_none()
    }
}

/// What a miss does: wait for a computation, lead one now, or lead the one queued behind the
/// running one.
enum Part {
    Wait(watch::Receiver<Option<Shared>>),
    Lead {
        id: u64,
        generation: u64,
        sender: watch::Sender<Option<Shared>>,
    },
    LeadNext {
        id: u64,
        sender: watch::Sender<Option<Shared>>,
        before: watch::Receiver<Option<Shared>>,
    },
}

struct Kept<T> {
    value: T,
    read_at: Instant,
}

#[derive(Default)]
struct State {
    answers: HashMap<Key, Arc<Answer>>,
    bytes: usize,
    flights: HashMap<Key, Flights>,
    contexts: HashMap<(Uuid, Uuid), Kept<Arc<AvailabilityContext>>>,
}

struct Inner {
    settings: CacheSettings,
    /// Bumped by every drop; a read stores only if it is unchanged since the read began.
    generation: AtomicU64,
    /// The listener is connected and listening: contexts may be kept.
    listening: AtomicBool,
    flight_ids: AtomicU64,
    state: Mutex<State>,
}

/// The process's availability cache; clones share it. [`AvailabilityCache::off`] keeps nothing.
#[derive(Clone)]
pub struct AvailabilityCache {
    inner: Option<Arc<Inner>>,
}

/// Left on the answer of a write that changed only the places of one office and service (a
/// booking, a move, a cancellation), so the process drops only those answers; the answer of any
/// other write drops every one.
#[derive(Debug, Clone, Copy)]
pub struct PlacesChanged {
    pub office: Uuid,
    pub service: Uuid,
}

impl PlacesChanged {
    pub fn on(self, mut answer: HttpResponse) -> HttpResponse {
        answer.extensions_mut().insert(self);
        answer
    }
}

/// What a change notification names: one office and service, or every one of either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    pub office: Option<Uuid>,
    pub service: Option<Uuid>,
}

impl Changed {
    /// `office:service`, `*` for every (the triggers' payload); `None` when it does not parse,
    /// which the listener treats as "everything changed".
    pub fn parse(payload: &str) -> Option<Self> {
        let (office, service) = payload.split_once(':')?;
        let part = |p: &str| -> Option<Option<Uuid>> {
            match p {
                "*" => Some(None),
                id => id.parse().ok().map(Some),
            }
        };
        Some(Self {
            office: part(office)?,
            service: part(service)?,
        })
    }

    fn covers(&self, office: Uuid, service: Uuid) -> bool {
        self.office.is_none_or(|o| o == office) && self.service.is_none_or(|s| s == service)
    }
}

impl AvailabilityCache {
    pub fn new(settings: CacheSettings) -> Self {
        if settings.max_age.is_zero() {
            return Self::off();
        }
        Self {
            inner: Some(Arc::new(Inner {
                settings,
                generation: AtomicU64::new(0),
                listening: AtomicBool::new(false),
                flight_ids: AtomicU64::new(0),
                state: Mutex::new(State::default()),
            })),
        }
    }

    /// Every read goes to the database.
    pub fn off() -> Self {
        Self { inner: None }
    }

    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether the listener is connected and listening (contexts may be kept).
    pub fn is_listening(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| i.listening.load(Ordering::SeqCst))
    }

    /// Drops every answer and context (this process changed an office, a service, a schedule
    /// or a closure, or may have).
    pub fn forget_all(&self) {
        let Some(inner) = &self.inner else { return };
        let mut st = inner.lock();
        inner.generation.fetch_add(1, Ordering::SeqCst);
        st.answers.clear();
        st.bytes = 0;
        st.contexts.clear();
    }

    /// Drops every answer, keeping the contexts (this process booked, cancelled or released:
    /// the places changed, not what they are cut from).
    pub fn forget_answers(&self) {
        let Some(inner) = &self.inner else { return };
        let mut st = inner.lock();
        inner.generation.fetch_add(1, Ordering::SeqCst);
        st.answers.clear();
        st.bytes = 0;
    }

    /// Drops what a notification names (another process, or this one, changed it).
    pub fn forget(&self, changed: Changed) {
        self.forget_covered(changed, true);
    }

    /// Drops the answers of one office and service, keeping the contexts (this process booked,
    /// moved or cancelled there).
    pub fn forget_answers_of(&self, places: PlacesChanged) {
        let changed = Changed {
            office: Some(places.office),
            service: Some(places.service),
        };
        self.forget_covered(changed, false);
    }

    fn forget_covered(&self, changed: Changed, contexts: bool) {
        let Some(inner) = &self.inner else { return };
        let mut st = inner.lock();
        inner.generation.fetch_add(1, Ordering::SeqCst);
        if contexts {
            st.contexts.retain(|&(o, s), _| !changed.covers(o, s));
        }
        let mut freed = 0;
        st.answers.retain(|k, a| {
            let keep = !changed.covers(k.office, k.service);
            if !keep {
                freed += a.body.len();
            }
            keep
        });
        st.bytes -= freed;
    }

    /// The listener is connected and listening (`true`), or lost its connection (`false`):
    /// either way what was kept may have missed a change, so it goes.
    pub fn set_listening(&self, on: bool) {
        let Some(inner) = &self.inner else { return };
        if !on {
            inner.listening.store(false, Ordering::SeqCst);
        }
        self.forget_all();
        if on {
            inner.listening.store(true, Ordering::SeqCst);
        }
    }

    /// The context of one office and service: kept while listening, else read.
    pub async fn context<F, Fut>(
        &self,
        office: Uuid,
        service: Uuid,
        read: F,
    ) -> Result<Arc<AvailabilityContext>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AvailabilityContext, ApiError>>,
    {
        let Some(inner) = self.inner.as_ref() else {
            return read().await.map(Arc::new);
        };
        if !inner.listening.load(Ordering::SeqCst) {
            return read().await.map(Arc::new);
        }
        let (generation, read_at) = {
            let st = inner.lock();
            if let Some(kept) = st.contexts.get(&(office, service)) {
                if kept.read_at.elapsed() < inner.settings.context_max_age {
                    return Ok(kept.value.clone());
                }
            }
            (inner.generation.load(Ordering::SeqCst), Instant::now())
        };
        let value = Arc::new(read().await?);
        let mut st = inner.lock();
        if inner.generation.load(Ordering::SeqCst) == generation
            && inner.listening.load(Ordering::SeqCst)
        {
            let kept = Kept {
                value: value.clone(),
                read_at,
            };
            st.contexts.insert((office, service), kept);
        }
        Ok(value)
    }

    /// The answer to `key` at `now`: kept if fresh, else computed once for every request that
    /// misses it meanwhile. `compute` encodes the answer from a read that begins when it is
    /// called.
    pub async fn answer<F, Fut>(
        &self,
        key: Key,
        now: DateTime<Utc>,
        compute: F,
    ) -> Result<Arc<Answer>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Bytes, EntityTag), ApiError>>,
    {
        // Deaf (not listening yet, or reconnecting), a kept context or answer could be one a
        // change went past: every read goes to the database until the listener is back.
        let listening = |i: &&Arc<Inner>| i.listening.load(Ordering::SeqCst);
        let Some(inner) = self.inner.as_ref().filter(listening) else {
            let (body, tag) = compute().await?;
            return Ok(Arc::new(Answer {
                body,
                tag,
                read_at: Instant::now(),
                now,
            }));
        };
        let max_age = inner.settings.max_age;
        let near = |then: DateTime<Utc>| (now - then).abs().to_std().is_ok_and(|d| d <= max_age);
        // A waiter whose leader went away (its request was dropped) tries again.
        let (generation, sender, flight) = loop {
            let part = {
                let mut st = inner.lock();
                if let Some(a) = st.answers.get(&key) {
                    if a.read_at.elapsed() < max_age && near(a.now) {
                        return Ok(a.clone());
                    }
                }
                let generation = inner.generation.load(Ordering::SeqCst);
                let flights = st.flights.entry(key).or_default();
                let id = inner.flight_ids.fetch_add(1, Ordering::Relaxed);
                match (&flights.running, &flights.next) {
                    // Begun after every drop so far: its read is as new as ours would be.
                    (Some((g, f)), _) if *g == generation && near(f.now) => {
                        Part::Wait(f.done.clone())
                    }
                    (_, Some(f)) if near(f.now) => Part::Wait(f.done.clone()),
                    (Some((_, running)), None) if near(running.now) => {
                        let before = running.done.clone();
                        let (sender, done) = watch::channel(None);
                        flights.next = Some(Flight { id, now, done });
                        Part::LeadNext { id, sender, before }
                    }
                    _ => {
                        let (sender, done) = watch::channel(None);
                        flights.running = Some((generation, Flight { id, now, done }));
                        Part::Lead {
                            id,
                            generation,
                            sender,
                        }
                    }
                }
            };
            match part {
                Part::Wait(done) => {
                    if let Some(shared) = wait(done).await {
                        return shared;
                    }
                }
                Part::Lead {
                    id,
                    generation,
                    sender,
                } => break (generation, sender, FlightGuard { inner, key, id }),
                Part::LeadNext { id, sender, before } => {
                    let flight = FlightGuard { inner, key, id };
                    let _ = wait(before).await;
                    let mut st = inner.lock();
                    let generation = inner.generation.load(Ordering::SeqCst);
                    let flights = st.flights.entry(key).or_default();
                    if let Some(next) = flights.next.take_if(|f| f.id == id) {
                        flights.running = Some((generation, next));
                    }
                    break (generation, sender, flight);
                }
            }
        };
        let read_at = Instant::now();
        let result = compute().await.map(|(body, tag)| {
            Arc::new(Answer {
                body,
                tag,
                read_at,
                now,
            })
        });
        if let Ok(answer) = &result {
            inner.store(key, answer, generation);
        }
        drop(flight);
        let _ = sender.send(Some(result.clone()));
        result
    }
}

impl AvailabilityCache {
    /// Listens on `pool` for the change notifications until `stop` turns true (or its sender
    /// goes, or the pool closes), reconnecting after a lost connection; contexts are kept only
    /// while this listens. The connection it holds is one of `pool`'s.
    pub async fn listen(self, pool: PgPool, mut stop: watch::Receiver<bool>) {
        if !self.is_on() {
            return;
        }
        let mut backoff = RETRY_FIRST;
        loop {
            self.set_listening(false);
            if *stop.borrow() || pool.is_closed() {
                return;
            }
            let connect = async {
                let mut listener = PgListener::connect_with(&pool).await?;
                // A lost connection must reach us, so that nothing is kept while deaf.
                listener.eager_reconnect(false);
                listener.listen(CHANNEL).await?;
                Ok::<_, sqlx::Error>(listener)
            };
            let connected = tokio::select! {
                c = connect => c,
                _ = stop.changed() => return,
            };
            let mut listener = match connected {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "availability listener cannot connect; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(RETRY_MOST);
                    continue;
                }
            };
            backoff = RETRY_FIRST;
            self.set_listening(true);
            loop {
                let next = tokio::select! {
                    n = listener.try_recv() => n,
                    _ = stop.changed() => {
                        self.set_listening(false);
                        return;
                    }
                };
                match next {
                    Ok(Some(n)) => match Changed::parse(n.payload()) {
                        Some(changed) => self.forget(changed),
                        None => self.forget_all(),
                    },
                    Ok(None) => {
                        tracing::warn!("availability listener lost its connection; reconnecting");
                        break;
                    }
                    Err(e) => {
                        if !pool.is_closed() {
                            tracing::warn!(error = %e, "availability listener failed; reconnecting");
                        }
                        break;
                    }
                }
            }
        }
    }
}

/// The first and the longest wait between attempts to connect the listener.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MOST: Duration = Duration::from_secs(5);

/// The leader's result, or `None` if the leader was dropped before it had one.
async fn wait(mut done: watch::Receiver<Option<Shared>>) -> Option<Shared> {
    match done.wait_for(Option::is_some).await {
        Ok(v) => v.clone(),
        Err(_) => None,
    }
}

/// Removes the flight when its leader finishes or is dropped, so no one waits on it after.
struct FlightGuard<'a> {
    inner: &'a Inner,
    key: Key,
    id: u64,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        let Some(flights) = st.flights.get_mut(&self.key) else {
            return;
        };
        flights.running.take_if(|(_, f)| f.id == self.id);
        flights.next.take_if(|f| f.id == self.id);
        if flights.is_empty() {
            st.flights.remove(&self.key);
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves nothing half-done worth refusing to read.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `answer` unless something was dropped since its read began, within the byte cap:
    /// answers past their age go first, then the oldest.
    fn store(&self, key: Key, answer: &Arc<Answer>, generation: u64) {
        let size = answer.body.len();
        if size > self.settings.max_bytes {
            return;
        }
        let mut st = self.lock();
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if let Some(old) = st.answers.remove(&key) {
            st.bytes -= old.body.len();
        }
        if st.bytes + size > self.settings.max_bytes {
            let max_age = self.settings.max_age;
            let mut freed = 0;
            st.answers.retain(|_, a| {
                let keep = a.read_at.elapsed() < max_age;
                if !keep {
                    freed += a.body.len();
                }
                keep
            });
            st.bytes -= freed;
        }
        while st.bytes + size > self.settings.max_bytes {
            let Some(oldest) = st
                .answers
                .iter()
                .min_by_key(|(_, a)| a.read_at)
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some(old) = st.answers.remove(&oldest) {
                st.bytes -= old.body.len();
            }
        }
        st.bytes += size;
        st.answers.insert(key, answer.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening() -> AvailabilityCache {
        let cache = AvailabilityCache::new(CacheSettings {
            max_age: Duration::from_secs(3600),
            ..CacheSettings::default()
        });
        cache.set_listening(true);
        cache
    }

    fn key() -> Key {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        Key {
            office: Uuid::nil(),
            service: Uuid::nil(),
            from: day,
            to: day,
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_796_000_000 + secs, 0).unwrap()
    }

    fn body(text: &'static str) -> Result<(Bytes, EntityTag), ApiError> {
        Ok((
            Bytes::from_static(text.as_bytes()),
            EntityTag::new_strong(text.into()),
        ))
    }

    #[tokio::test]
    async fn misses_of_one_key_meanwhile_are_computed_once() {
        let cache = listening();
        let computed = AtomicU64::new(0);
        let asks = (0..16).map(|_| {
            cache.answer(key(), at(0), || async {
                computed.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                body("[]")
            })
        });
        for a in futures_util::future::join_all(asks).await {
            assert_eq!(a.unwrap().body, "[]");
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn misses_after_a_drop_wait_for_one_read_queued_behind_the_running_one() {
        let cache = listening();
        let reads = std::sync::Mutex::new(Vec::new());
        let read = |name: &'static str| {
            let reads = &reads;
            move || async move {
                reads.lock().unwrap().push(format!("{name} begins"));
                tokio::time::sleep(Duration::from_millis(20)).await;
                reads.lock().unwrap().push(format!("{name} ends"));
                body(name)
            }
        };
        let first = cache.answer(key(), at(0), read("first"));
        let later = async {
            // Bookings drop the key again and again while the first read runs.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let asks = (0..16).map(|i| {
                cache.forget_all();
                cache.answer(key(), at(0), read(if i == 0 { "queued" } else { "extra" }))
            });
            futures_util::future::join_all(asks).await
        };
        let (first, later) = futures_util::future::join(first, later).await;
        assert_eq!(first.unwrap().body, "first");
        for a in later {
            assert_eq!(a.unwrap().body, "queued");
        }
        assert_eq!(
            *reads.lock().unwrap(),
            ["first begins", "first ends", "queued begins", "queued ends"]
        );
    }

    #[tokio::test]
    async fn a_read_that_began_before_a_drop_is_not_kept_after_it() {
        let cache = listening();
        let old = cache
            .answer(key(), at(0), || async {
                // A write committed and dropped the cache while this read ran.
                cache.forget_all();
                body("old")
            })
            .await;
        assert_eq!(old.unwrap().body, "old");
        let new = cache.answer(key(), at(0), || async { body("new") }).await;
        assert_eq!(new.unwrap().body, "new");
        let kept = cache.answer(key(), at(0), || async { body("newer") }).await;
        assert_eq!(kept.unwrap().body, "new");
    }

    #[tokio::test]
    async fn an_answer_is_not_served_to_a_clock_moved_past_its_bound_nor_while_deaf() {
        let cache = AvailabilityCache::new(CacheSettings::default());
        cache.set_listening(true);
        let first = cache.answer(key(), at(0), || async { body("a") }).await;
        assert_eq!(first.unwrap().body, "a");
        let later = cache.answer(key(), at(2), || async { body("b") }).await;
        assert_eq!(later.unwrap().body, "b");
        cache.set_listening(false);
        let deaf = cache.answer(key(), at(2), || async { body("c") }).await;
        assert_eq!(deaf.unwrap().body, "c");
    }

    #[tokio::test]
    async fn the_leaders_error_is_every_waiters_error() {
        let cache = listening();
        let asks = (0..4).map(|_| {
            cache.answer(key(), at(0), || async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(ApiError::not_found())
            })
        });
        for a in futures_util::future::join_all(asks).await {
            assert!(a.is_err());
        }
    }

    #[test]
    fn a_notification_names_one_pair_or_every_office_or_service() {
        let o = Uuid::new_v4();
        let s = Uuid::new_v4();
        let one = Changed::parse(&format!("{o}:{s}")).unwrap();
        assert!(one.covers(o, s));
        assert!(!one.covers(o, Uuid::new_v4()));
        let office = Changed::parse(&format!("{o}:*")).unwrap();
        assert!(office.covers(o, Uuid::new_v4()));
        assert!(!office.covers(Uuid::new_v4(), s));
        let service = Changed::parse(&format!("*:{s}")).unwrap();
        assert!(service.covers(Uuid::new_v4(), s));
        assert_eq!(Changed::parse("nonsense"), None);
        assert_eq!(Changed::parse("x:y"), None);
    }
}
