//! Password hashing off the async workers, and random single-use secrets.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, Once};
use std::time::Duration;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use mawid_domain::account::Password;
use mawid_persistence::accounts::Secret;
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, Semaphore};

use crate::error::ApiError;
use mawid_domain::Code;

/// Makes the allocator give each argon2 block (19 MiB) back to the system once its hash is done.
/// glibc raises its mmap threshold to the size of the first large block freed; after that such
/// blocks come from the hashing thread's arena and stay there, one per arena: after a sign-in
/// storm over the blocking threads the process kept about 1 GiB. A fixed threshold keeps every
/// such block mmapped, so it is unmapped when freed. Call it first in `main`, before any thread.
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

type Job = Box<dyn FnOnce() + Send>;

/// One thread per hashing permit. The first runs at normal priority, so sign-ins go on at one
/// core's pace however busy the machine is, but on the longest slices, so a request's thread
/// that wakes preempts it ([`crate::slices`]); the others at the lowest, so they hash only on
/// cores nothing else wants. Measured on 2 cores: with every hashing thread at normal priority a login
/// storm raised the calendar's p99 about thirtyfold, with every one at `SCHED_IDLE` the other
/// work starved the sign-ins. The threads end when the [`Passwords`] owning them is dropped,
/// and are never joined, so they cannot hold up the process's exit.
struct Hashers {
    jobs: mpsc::Sender<Job>,
}

impl Hashers {
    fn start(threads: usize) -> Self {
        static WARN_ONCE: Once = Once::new();
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
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
                    loop {
                        // The guard is dropped before the job runs, so the other threads can
                        // take the next one meanwhile.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        // A panicking hash drops its reply, which answers its request with a
                        // 500; the thread stays for the next one.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                    }
                })
                .expect("the system starts a password hashing thread");
        }
        Self { jobs }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = reply.send(f());
            }))
            .map_err(|_| ApiError::internal("the password hashing threads have stopped"))?;
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
        f: impl FnOnce() -> T + Send + 'static,
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
            .run(move || {
                let out = f();
                drop(permit);
                drop(share);
                out
            })
            .await
    }

    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let pw = password.expose().to_owned();
        self.blocking(Some(&self.new_hashes), move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(pw.as_bytes(), &salt)
                .map(|h| h.to_string())
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
            .blocking(None, move || {
                PasswordHash::new(&hash)
                    .map(|h| argon2().verify_password(pw.as_bytes(), &h).is_ok())
                    .unwrap_or(false)
            })
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
            move || {
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
