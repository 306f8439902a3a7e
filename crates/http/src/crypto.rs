//! Password hashing off the async workers, and random single-use secrets.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::Duration;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{Output, ParamsString, PasswordHash, PasswordHasher, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use mawid_domain::account::Password;
use mawid_persistence::accounts::Secret;
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, Semaphore};

use crate::error::ApiError;
use mawid_domain::Code;

/// Makes the allocator give every large block back to the system once it is freed. glibc raises
/// its mmap threshold to the size of the first large block freed; after that such blocks come
/// from the arena of the thread that frees them and stay there, one per arena: when each hash
/// had its own 19 MiB, a sign-in storm over the blocking threads left the process about 1 GiB. A
/// fixed threshold keeps every such block mmapped, so it is unmapped when freed. Call it first in
/// `main`, before any thread.
pub fn return_hash_memory_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter, and no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// OWASP's argon2id profile: 19 MiB, two passes, one lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Lowers the calling thread to `SCHED_IDLE`, so that every other runnable thread on the machine
/// (HTTP workers, the database, the runtime's I/O) takes a core from it at once.
///
/// `SCHED_IDLE` rather than `nice 19`: the scheduler preempts a `SCHED_IDLE` thread as soon as
/// any other thread wakes on its core, while a nice-19 thread may keep the core for the rest of
/// its protected slice, which is what a request waiting for a core sees in its latency.
/// Lowering one's own policy needs no privilege; on Linux `pid 0` is the calling thread only.
fn lower_this_threads_priority() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: the pointer is to a live local, and the call changes only this thread's
        // scheduling policy.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "SCHED_IDLE is Linux only",
        ))
    }
}

/// A hashing thread's argon2 memory, kept from one hash to the next. A fresh 19 MiB for every
/// hash is mapped, faulted in (the kernel zeroing each page) and unmapped again (holding the
/// process's memory map lock and interrupting its other threads to flush their TLBs): measured
/// on 2 cores, a sign-in storm signed in 21 to 33 citizens a second that way, and 44 to 53 with
/// the memory kept. Argon2 writes every block before it reads it, so the old contents never
/// matter. It costs one argon2 memory per hashing thread (one per core) while sign-ins come; a
/// thread that has had nothing to hash for [`HASH_MEMORY_KEPT_FOR`] gives its memory back.
/// Public for the benchmark, which measures the machine's hashing limit with the server's own
/// verification.
#[derive(Default)]
pub struct HashMemory(Vec<Block>);

/// How long an idle hashing thread keeps its argon2 memory for the next hash.
const HASH_MEMORY_KEPT_FOR: Duration = Duration::from_secs(10);

impl HashMemory {
    fn is_held(&self) -> bool {
        !self.0.is_empty()
    }

    fn release(&mut self) {
        self.0 = Vec::new();
    }

    /// The memory `params` asks for, grown to it the first time.
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let count = params.block_count();
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }

    /// Argon2's output for `password` and `salt` under `argon2`'s parameters, `len` bytes long.
    fn output(
        &mut self,
        argon2: &Argon2<'_>,
        password: &[u8],
        salt: Salt<'_>,
        len: usize,
    ) -> argon2::password_hash::Result<Output> {
        let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
        let salt = salt.decode_b64(&mut salt_bytes)?;
        let blocks = self.blocks(argon2.params());
        Output::init_with(len, |out| {
            argon2
                .hash_password_into_with_memory(password, salt, out, &mut *blocks)
                .map_err(Into::into)
        })
    }

    /// A new PHC string for `password` with a random salt, as `PasswordHasher::hash_password`
    /// writes it.
    fn hash(&mut self, password: &[u8]) -> argon2::password_hash::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        let argon2 = argon2();
        let len = argon2
            .params()
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let hash = self.output(&argon2, password, salt.as_salt(), len)?;
        Ok(PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(argon2.params())?,
            salt: Some(salt.as_salt()),
            hash: Some(hash),
        }
        .to_string())
    }

    /// Whether `password` matches the PHC string `stored`, under the parameters it was made with;
    /// a string that does not parse matches nothing.
    pub fn verify(&mut self, password: &[u8], stored: &str) -> bool {
        self.matches(password, stored).unwrap_or(false)
    }

    fn matches(&mut self, password: &[u8], stored: &str) -> argon2::password_hash::Result<bool> {
        let stored = PasswordHash::new(stored)?;
        let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
            return Ok(false);
        };
        let algorithm = Algorithm::try_from(stored.algorithm)?;
        let version = stored
            .version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let params = Params::try_from(&stored)?;
        let argon2 = Argon2::new(algorithm, version, params);
        let computed = self.output(&argon2, password, salt, expected.len())?;
        // `Output`'s equality takes the same time wherever the two differ.
        Ok(computed == expected)
    }
}

type Job = Box<dyn FnOnce(&mut HashMemory) + Send>;

/// The hashing threads' work, taken in turn by whichever thread is free. A condition variable
/// rather than a channel: each waiting thread then waits on its own, and can time out to give
/// its memory back, where behind a channel's shared receiver all but one wait for its lock.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    /// The [`Passwords`] owning the threads is gone: they end.
    closed: bool,
}

impl Queue {
    fn push(&self, job: Job) -> Result<(), ApiError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| ApiError::internal("the password hashing queue is poisoned"))?;
        if state.closed {
            return Err(ApiError::internal(
                "the password hashing threads have stopped",
            ));
        }
        state.jobs.push_back(job);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    fn close(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.closed = true;
        }
        self.ready.notify_all();
    }

    /// The next job, or `None` once the queue is closed. A thread holding argon2 memory that
    /// waits longer than `keep` for a job gives the memory back meanwhile.
    fn next(&self, memory: &mut HashMemory, keep: Duration) -> Option<Job> {
        let mut state = self.state.lock().ok()?;
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state = if memory.is_held() {
                let (state, waited) = self.ready.wait_timeout(state, keep).ok()?;
                if waited.timed_out() {
                    memory.release();
                }
                state
            } else {
                self.ready.wait(state).ok()?
            };
        }
    }
}

/// One thread per hashing permit. The first runs at normal priority, so sign-ins go on at one
/// core's pace however busy the machine is, but on the longest slices, so a request's thread
/// that wakes preempts it ([`crate::slices`]); the others at the lowest, so they hash only on
/// cores nothing else wants. Measured on 2 cores: with every hashing thread at normal priority a login
/// storm raised the calendar's p99 about thirtyfold, with every one at `SCHED_IDLE` the other
/// work starved the sign-ins. The threads end when the [`Passwords`] owning them is dropped,
/// and are never joined, so they cannot hold up the process's exit.
struct Hashers {
    queue: Arc<Queue>,
}

impl Drop for Hashers {
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl Hashers {
    fn start(threads: usize) -> Self {
        static WARN_ONCE: Once = Once::new();
        let queue = Arc::new(Queue::default());
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("mawid-hash-{i}"))
                .spawn(move || {
                    let lowered = if i == 0 {
                        crate::slices::ask_for_long_slices()
                    } else {
                        lower_this_threads_priority()
                    };
                    if let Err(e) = lowered {
                        WARN_ONCE.call_once(|| {
                            tracing::warn!(
                                error = %e,
                                "a password hashing thread keeps the default scheduling"
                            );
                        });
                    }
                    let mut memory = HashMemory::default();
                    while let Some(job) = queue.next(&mut memory, HASH_MEMORY_KEPT_FOR) {
                        // A panicking hash drops its reply, which answers its request with a
                        // 500; the thread stays for the next one.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory)));
                    }
                })
                .expect("the system starts a password hashing thread");
        }
        Self { queue }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue.push(Box::new(move |memory: &mut HashMemory| {
            let _ = reply.send(f(memory));
        }))?;
        answer.await.map_err(ApiError::internal)
    }
}

/// Runs argon2 on threads of its own, all but one at the lowest priority, with at most one hash
/// per core at a time, so a storm of logins queues here instead of stalling every other
/// request. The queue is bounded (beyond it the answer is an immediate 503), and new hashes
/// (registrations, resets, staff accounts) may hold only half of the cores, so a flood of them
/// cannot keep sign-ins out.
pub struct Passwords {
    permits: Arc<Semaphore>,
    new_hashes: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    dummy_hash: String,
    queue_timeout: Duration,
    hashers: Hashers,
}

/// Leaves the queue count when the request stops waiting, however it stops.
struct InQueue<'a>(&'a AtomicUsize);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn busy() -> ApiError {
    ApiError::new(Code::ServerBusy, "too many sign-ins at once; try again")
}

impl Passwords {
    /// Requests that may wait for a core, per core.
    pub const QUEUE_PER_CORE: usize = 32;

    pub fn new(concurrency: usize) -> Self {
        Self::with_queue(concurrency, concurrency.max(1) * Self::QUEUE_PER_CORE)
    }

    /// As [`Passwords::new`], with at most `max_waiting` requests waiting for a core.
    pub fn with_queue(concurrency: usize, max_waiting: usize) -> Self {
        let salt = SaltString::generate(&mut OsRng);
        let dummy_hash = argon2()
            .hash_password(b"not a password anyone has", &salt)
            .expect("hashing a constant succeeds")
            .to_string();
        let concurrency = concurrency.max(1);
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            new_hashes: Arc::new(Semaphore::new((concurrency / 2).max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting,
            dummy_hash,
            queue_timeout: Duration::from_secs(5),
            hashers: Hashers::start(concurrency),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        share: Option<&Arc<Semaphore>>,
        f: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy());
        }
        let queued = InQueue(&self.waiting);
        let wait = async {
            let share = match share {
                Some(s) => Some(s.clone().acquire_owned().await?),
                None => None,
            };
            Ok::<_, tokio::sync::AcquireError>((share, self.permits.clone().acquire_owned().await?))
        };
        let (share, permit) = tokio::time::timeout(self.queue_timeout, wait)
            .await
            .map_err(|_| busy())?
            .map_err(ApiError::internal)?;
        drop(queued);
        self.hashers
            .run(move |memory| {
                let out = f(memory);
                drop(permit);
                drop(share);
                out
            })
            .await
    }

    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let pw = password.expose().to_owned();
        self.blocking(Some(&self.new_hashes), move |memory| {
            memory.hash(pw.as_bytes())
        })
        .await?
        .map_err(ApiError::internal)
    }

    /// Verifies against the stored hash, or against a dummy one when there is no account, so the
    /// answer takes as long either way.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, ApiError> {
        let pw = password.to_owned();
        let known = stored.is_some();
        let hash = stored.unwrap_or(&self.dummy_hash).to_owned();
        let ok = self
            .blocking(None, move |memory| memory.verify(pw.as_bytes(), &hash))
            .await?;
        Ok(known && ok)
    }
}

/// A 256-bit random secret, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a secret token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token with its hash.
pub fn new_secret() -> Secret {
    let token = random_token();
    Secret {
        hash: token_hash(&token),
        token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With one core and room for three in the queue, of ten hashes at once one runs, up to
    /// three wait and the others are refused at once instead of queueing without bound.
    #[actix_web::test]
    async fn beyond_the_queue_a_hash_is_refused_at_once() {
        let passwords = Passwords::with_queue(1, 3);
        let password = Password::parse("a password long enough").unwrap();
        let answers =
            futures_util::future::join_all((0..10).map(|_| passwords.hash(&password))).await;
        let done = answers.iter().filter(|a| a.is_ok()).count();
        assert!((3..=4).contains(&done), "{answers:?}");
        for a in answers.iter().filter_map(|a| a.as_ref().err()) {
            assert_eq!(a.code(), Code::ServerBusy);
        }
        assert_eq!(passwords.waiting.load(Ordering::SeqCst), 0);
    }

    /// The hashing threads reuse their memory, so their hashes and checks are argon2's own:
    /// a hash made there verifies with the argon2 crate's verifier and one made by the crate
    /// verifies there, under its own parameters even when they are smaller than the memory kept
    /// (and the larger ones again after them), and a wrong password matches neither way.
    #[actix_web::test]
    async fn hashes_on_the_hashing_threads_are_argon2s_own_both_ways() {
        use argon2::password_hash::PasswordVerifier;
        let passwords = Passwords::with_queue(1, 4);
        let password = Password::parse("a password long enough").unwrap();
        let ours = passwords.hash(&password).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert_eq!(parsed.algorithm, Algorithm::Argon2id.ident());
        let params = Params::try_from(&parsed).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (19_456, 2, 1)
        );
        assert_eq!(params.output_len(), Some(Params::DEFAULT_OUTPUT_LEN));
        assert!(argon2()
            .verify_password(b"a password long enough", &parsed)
            .is_ok());
        assert!(argon2()
            .verify_password(b"another password", &parsed)
            .is_err());

        let salt = SaltString::generate(&mut OsRng);
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, Some(24)).unwrap(),
        );
        let theirs = [
            argon2()
                .hash_password(b"theirs", &salt)
                .unwrap()
                .to_string(),
            small.hash_password(b"theirs", &salt).unwrap().to_string(),
        ];
        for stored in [&theirs[0], &theirs[1], &theirs[0], &ours] {
            let right = if stored == &ours {
                password.expose()
            } else {
                "theirs"
            };
            assert!(
                passwords.verify(right, Some(stored)).await.unwrap(),
                "{stored}"
            );
            assert!(
                !passwords.verify("wrong", Some(stored)).await.unwrap(),
                "{stored}"
            );
        }
        assert!(!passwords
            .verify("theirs", Some("not a hash"))
            .await
            .unwrap());
    }

    /// A hashing thread waiting for work keeps its argon2 memory for the next hash while the
    /// next comes within the time it is kept for, gives it back when none comes, and ends when
    /// the queue closes.
    #[test]
    fn an_idle_hashing_thread_gives_its_memory_back_and_a_busy_one_keeps_it() {
        let queue = Arc::new(Queue::default());
        let params = Params::new(64, 1, 1, None).unwrap();
        let waiter = |keep: Duration| {
            let (queue, params) = (queue.clone(), params.clone());
            let (started, waiting) = std::sync::mpsc::channel();
            let thread = std::thread::spawn(move || {
                let mut memory = HashMemory::default();
                memory.blocks(&params);
                started.send(()).unwrap();
                let job = queue.next(&mut memory, keep);
                (job.is_some(), memory.is_held())
            });
            waiting.recv().unwrap();
            thread
        };
        let nothing = || -> Job { Box::new(|_: &mut HashMemory| {}) };

        let busy = waiter(Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(50));
        queue.push(nothing()).unwrap();
        assert_eq!(busy.join().unwrap(), (true, true), "kept");

        let idle = waiter(Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(500));
        queue.push(nothing()).unwrap();
        assert_eq!(idle.join().unwrap(), (true, false), "given back");

        let ending = waiter(Duration::from_secs(60));
        queue.close();
        assert_eq!(ending.join().unwrap(), (false, true), "ended");
        assert!(queue.push(nothing()).is_err(), "closed for good");
    }

    /// Fields of `/proc/thread-self/stat` after the command name, which may hold spaces.
    #[cfg(target_os = "linux")]
    fn this_threads_stat() -> Vec<String> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let (_, after_name) = stat.rsplit_once(')').unwrap();
        after_name.split_whitespace().map(String::from).collect()
    }

    /// Of two hashing threads one keeps the normal policy and one runs at `SCHED_IDLE`, and
    /// both still hash and verify.
    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn one_hashing_thread_keeps_normal_priority_and_the_other_runs_idle() {
        let passwords = Passwords::with_queue(2, 4);
        // Both jobs wait for each other, so each runs on a thread of its own. Field 41 of
        // stat(5) is the policy; the slice starts at field 3.
        let both = Arc::new(std::sync::Barrier::new(2));
        let policy = || {
            let both = both.clone();
            move |_: &mut HashMemory| {
                both.wait();
                this_threads_stat()[41 - 3].clone()
            }
        };
        let (a, b) = tokio::join!(
            passwords.blocking(None, policy()),
            passwords.blocking(None, policy())
        );
        let mut policies = [a.unwrap(), b.unwrap()];
        policies.sort();
        assert_eq!(
            policies,
            [libc::SCHED_OTHER.to_string(), libc::SCHED_IDLE.to_string()]
        );

        let password = Password::parse("a password long enough").unwrap();
        let hash = passwords.hash(&password).await.unwrap();
        assert!(passwords
            .verify(password.expose(), Some(&hash))
            .await
            .unwrap());
        assert!(!passwords
            .verify("another password", Some(&hash))
            .await
            .unwrap());
    }
}
