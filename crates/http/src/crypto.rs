//! Password hashing off the async workers, and random single-use secrets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use mawid_domain::account::Password;
use mawid_persistence::accounts::Secret;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

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

/// Runs argon2 on the blocking pool with at most one hash per core at a time, so a storm of
/// logins queues here instead of stalling every other request. The queue is bounded (beyond it
/// the answer is an immediate 503), and new hashes (registrations, resets, staff accounts) may
/// hold only half of the cores, so a flood of them cannot keep sign-ins out.
pub struct Passwords {
    permits: Arc<Semaphore>,
    new_hashes: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    dummy_hash: String,
    queue_timeout: Duration,
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
        tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            drop(share);
            out
        })
        .await
        .map_err(ApiError::internal)
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
}
